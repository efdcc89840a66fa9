"""Customer Success FTE: an AI customer-success employee you run yourself."""

__version__ = "0.1.0"
