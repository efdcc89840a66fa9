"""The MCP server: customers, tickets and the knowledge base as tools for AI assistants."""
