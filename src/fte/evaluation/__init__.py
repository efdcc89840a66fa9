"""`fte eval`: the agent's quality as numbers anyone can reproduce."""
