"""ledger-mcp: a double-entry bookkeeping ledger served to AI agents over MCP."""

__version__ = "0.1.0"
