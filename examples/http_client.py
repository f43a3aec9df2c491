"""An agent's connection to `ledger-mcp serve --http`: the MCP Python SDK client over streamable HTTP,
authenticated with an API key, booking one supplier invoice paid by bank and reading it back.

    ledger-mcp init
    ledger-mcp keys create --label invoice-agent --scopes ledger:read,ledger:book > invoice-agent.key
    ledger-mcp serve --http --port 8000 &
    python examples/http_client.py --key-file invoice-agent.key          # or LEDGER_MCP_KEY=lmk_...

Every booking made with the key records it in provenance: actor_type api_key, the key's label and prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool and print its one-line summary; a refused call exits with its {code, message, hint}."""
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text if result.content and result.content[0].type == "text" else ""
    if result.is_error:  # the error arrives as JSON text: {"error": {code, message, retryable, hint, ...}}
        sys.exit(f"{tool} refused: {json.loads(text)['error']}")
    print(f"{tool}: {text.splitlines()[0] if text else '(no summary)'}")
    return dict(result.structured_content or {})


async def main(url: str, key: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        tools = (await client.list_tools()).tools
        print(f"connected to {url}; this key may call {len(tools)} tools")
        await call(client, "search_accounts", query="Bank")
        booked = await call(client, "post_booking", booking_date="2026-03-02", external_reference="RE-4711",
                            description="Büromaterial Papier & Co RE-4711", idempotency_key="http-example-re-4711",
                            lines=[{"debit_account": "4930", "credit_account": "1200", "amount": "119.00",
                                    "tax_code": "VSt19"}])
        await call(client, "get_intent", intent_id=booked["intent_id"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000/mcp", help="the server's MCP endpoint "
                                                                          "(default http://127.0.0.1:8000/mcp)")
    parser.add_argument("--key-file", help="file holding the API key (default: env LEDGER_MCP_KEY)")
    args = parser.parse_args()
    if args.key_file:
        with open(args.key_file, encoding="utf-8") as f:
            key = f.read().strip()
    else:
        key = os.environ.get("LEDGER_MCP_KEY", "")
    if not key:
        sys.exit("no API key: pass --key-file FILE or set LEDGER_MCP_KEY (create one with ledger-mcp keys create)")
    anyio.run(main, args.url, key)
