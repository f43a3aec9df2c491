"""A bare MCP server with one tool, `noop() -> "ok"`, over stdio.

Baseline for bench/stdio_roundtrip.py: same SDK (mcp 2.x MCPServer), same transport, no database,
no lifespan, so whatever ledger-mcp costs on top of it shows up as the difference.

    python bench/noop_server.py
"""

from __future__ import annotations

from mcp.server import MCPServer

server = MCPServer("noop-bench", log_level="WARNING")


@server.tool()
async def noop() -> str:
    """Return "ok" and do nothing else."""
    return "ok"


if __name__ == "__main__":
    server.run("stdio")
