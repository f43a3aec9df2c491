"""Assembles the MCP server: lifespan (database), error mapping, transports."""

from ledger_mcp.server.app import build_server

__all__ = ["build_server"]
