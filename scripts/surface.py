"""Print what MCP clients see of a server, as JSON: capabilities, instructions, tools/list, resources,
resource templates and prompts, on stdio and HTTP, both protocol eras, default and every toolset.

Compare two source trees (a change that should not alter the surface must print the same bytes):

    python scripts/surface.py > /tmp/after.json
    git archive main | tar -x -C /tmp/main
    PYTHONPATH=/tmp/main python scripts/surface.py > /tmp/before.json
    cmp /tmp/before.json /tmp/after.json
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import replace
from typing import Any

from mcp import Client

from ledger_mcp.server import build_server
from ledger_mcp.server.http import HttpOptions
from ledger_mcp.settings import Settings


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True) if model is not None else None


async def main() -> None:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        default = Settings.load(data_dir=tmp, actor="surface")
        for toolsets in ("default", "all"):
            settings = replace(default, toolsets=frozenset({toolsets}))
            for transport, http in (("stdio", None), ("http", HttpOptions(port=0, require_key=False))):
                for mode in ("legacy", "auto"):
                    async with Client(build_server(settings, http), mode=mode) as client:
                        out[f"{toolsets} {transport} {mode}"] = {
                            "capabilities": dump(client.server_capabilities), "server_info": dump(client.server_info),
                            "instructions": client.instructions, "tools": dump(await client.list_tools()),
                            "resources": dump(await client.list_resources()),
                            "resource_templates": dump(await client.list_resource_templates()),
                            "prompts": dump(await client.list_prompts())}
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
