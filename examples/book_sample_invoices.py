"""Book the sample supplier invoices end to end through ledger-mcp over MCP (stdio).

Run:  python examples/book_sample_invoices.py [--data-dir DIR]

For each file in examples/invoices/ (a Factur-X PDF, an XRechnung credit note, a UBL invoice, text
PDFs, a scan and a photo) it does what an invoice agent does: copy the file into the ledger's inbox
folder, `ingest_document` it, read the review case (extracted fields with their source and
confidence, vendor candidates, compliance findings), create the vendor when none matches, approve
the case, and finally list the open payables. The scan and the photo go through OCR (tesseract with
German and English must be installed). Without --data-dir the ledger lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp_types import ElicitRequestParams, ElicitResult

SAMPLES = Path(__file__).resolve().parent / "invoices"
ORDER = ["facturx_en16931.pdf", "xrechnung_credit_note.xml", "ubl_invoice.xml", "text_de.pdf", "text_en.pdf",
         "scan_de.pdf", "photo_en.png"]


class ToolFailed(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['code']}: {error['message']} (hint: {error['hint']})")
        self.error = error


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise ToolFailed(json.loads(result.content[0].text)["error"])  # type: ignore[union-attr]
    return dict(result.structured_content or {})


async def approve_as_human(context: Any, params: ElicitRequestParams) -> ElicitResult:
    """Approvals above the configured amount ask the user; this script's user says yes."""
    print(f"    [asked] {params.message.splitlines()[0]}\n    [user] yes")
    return ElicitResult(action="accept", content={"confirm": True})


async def book(client: Client, inbox: Path, name: str) -> None:
    shutil.copy(SAMPLES / name, inbox / name)
    case = (await call(client, "ingest_document", path=str(inbox / name)))["review_case"]
    invoice, sources = case["normalized_invoice"], case["field_sources"]
    print(f"\n{name}: extracted by {case['document']['extraction_method']}, {case['queue_state']}")
    for field in ("vendor_name", "invoice_number", "invoice_date", "total_gross"):
        source = sources.get(field, {})
        print(f"    {field:<15} {invoice.get(field)!s:<28} {source.get('source', '-')} {source.get('confidence', '')}")
    for finding in case["findings"]:
        print(f"    {finding['severity']:<8} {finding['code']}: {finding['message']}")
    if case["vendor_id"] is None:
        try:
            case = await call(client, "update_review_case", review_case_id=case["id"], create_vendor=True)
        except ToolFailed as failed:
            # e.g. PARTY_EXISTS: the VAT ID or IBAN belongs to another vendor. A person has to look.
            print(f"    cannot create the vendor: {failed}")
            await call(client, "reject_review_case", review_case_id=case["id"],
                       reason=f"Vendor unclear: {failed.error['message']}")
            print("    rejected for a person to check")
            return
        print(f"    vendor created: {case['vendor_name']}")
    blocking = [f["code"] for f in case["findings"] if f["severity"] == "blocking"]
    if "DUPLICATE_INVOICE" in blocking:  # the same invoice again, e.g. a photo of a PDF already booked
        await call(client, "reject_review_case", review_case_id=case["id"], reason="Duplicate of a booked invoice")
        print("    rejected: duplicate of a booked invoice")
        return
    reason = f"Checked against the document ({', '.join(blocking)})" if blocking else None
    approved = await call(client, "approve_review_case", review_case_id=case["id"],
                          **({"override_reason": reason} if reason else {}))
    print(f"    approved: invoice {approved['invoice_id'][:8]}, intent {approved['intent_id'][:8]}")


async def run(data_dir: Path) -> None:
    inbox = data_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    params = StdioServerParameters(command=sys.executable, args=["-m", "ledger_mcp", "serve", "--data-dir",
                                                                 str(data_dir), "--actor", "invoice-agent"])
    async with Client(params, elicitation_callback=approve_as_human) as client:
        for name in ORDER:
            await book(client, inbox, name)
        items = await call(client, "list_open_items", kind="payable")
        print(f"\nOpen payables: {len(items['open_items'])}, total {items['total_payable']} {items['currency']}")
        for item in items["open_items"]:
            print(f"    {item['party_name'][:30]:<30} {item['invoice_number']:<14} due {item['due_date']} "
                  f"{item['open_amount']:>10}")
        chain = await call(client, "verify_chain")
        print(f"Chain: {'intact' if chain['ok'] else 'BROKEN'}, {chain['lines_checked']} lines")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="ledger data directory (default: a temporary one)")
    args = parser.parse_args()
    if args.data_dir:
        anyio.run(run, Path(args.data_dir))
        return
    with tempfile.TemporaryDirectory(prefix="ledger-mcp-invoices-") as tmp:
        anyio.run(run, Path(tmp))


if __name__ == "__main__":
    main()
