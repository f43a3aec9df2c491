"""An agent that does what the server tells it, over real stdio, and then the books are checked.

The agent reads the server's instructions and prompts and uses the tools they name, in the order
they name them, for a month of a small business: a customer invoice and its payment, a supplier
invoice from a document, a correction, and a month close. Whatever the guidance says, the books must
come out right: open items equal the control accounts, the trial balance balances, the chain holds.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from ledger_mcp.settings import Settings

pytestmark = pytest.mark.anyio
INVOICES = Path(__file__).parents[2] / "examples" / "invoices"


def _serve(settings: Settings, actor: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[
        "-m", "ledger_mcp", "serve", "--data-dir", str(settings.data_dir), "--database-url", settings.database_url,
        "--actor", actor])


class Agent:
    """Calls tools and keeps what the guidance said; `named` lists the tools a text names, in order."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.tools: set[str] = set()

    async def start(self) -> str:
        self.tools = {t.name for t in (await self.client.list_tools()).tools}
        return self.client.instructions or ""

    def named(self, text: str) -> list[str]:
        found = re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", text)
        return list(dict.fromkeys(name for name in found if name in self.tools))

    async def prompt(self, name: str, **arguments: str) -> list[str]:
        result = await self.client.get_prompt(name, arguments)
        return self.named(" ".join(m.content.text for m in result.messages))  # type: ignore[union-attr]

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error:
            raise ToolError(json.loads(result.content[0].text)["error"])  # type: ignore[union-attr]
        return dict(result.structured_content or {})


class ToolError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['code']}: {error['message']}")
        self.error = error


async def grant_as_the_user(settings: Settings, confirmation_id: str) -> None:
    """The human grants a pending confirmation through a channel the agent does not hold: the command
    line on the server's machine."""
    ledger = ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url]
    listed = subprocess.run([sys.executable, "-m", "ledger_mcp", "confirm", "list", *ledger], capture_output=True,
                            text=True, timeout=60, check=True)
    assert confirmation_id in listed.stdout
    granted = subprocess.run([sys.executable, "-m", "ledger_mcp", "confirm", "grant", confirmation_id, *ledger,
                              "--actor", "owner"], capture_output=True, text=True, timeout=60, check=True)
    assert f"{confirmation_id} granted" in granted.stdout


async def with_confirmation(agent: Agent, settings: Settings, tool: str, **arguments: Any) -> dict[str, Any]:
    """What the instructions say about CONFIRMATION_REQUIRED: the user grants it, then the same call again."""
    try:
        return await agent.call(tool, **arguments)
    except ToolError as refused:
        assert refused.error["code"] == "CONFIRMATION_REQUIRED", refused.error
        confirmation_id = refused.error["details"]["confirmation_id"]
        await grant_as_the_user(settings, confirmation_id)
        return await agent.call(tool, **arguments, confirmation_id=confirmation_id)


async def book_customer_invoice(agent: Agent, steps: list[str]) -> None:
    facts = {"customer": "Kanzlei Weber & Partner", "number": "AR-2026-007", "date": "2026-03-10",
             "net": "2000.00", "gross": "2380.00"}
    if "create_invoice" in steps:
        found = (await agent.call("find_parties", kind="customer", search=facts["customer"]))["parties"]
        party = found[0] if found else await agent.call("save_party", kind="customer", name=facts["customer"])
        await agent.call("create_invoice", direction="receivable", party_id=party["id"],
                         invoice_number=facts["number"], invoice_date=facts["date"], total_gross=facts["gross"],
                         idempotency_key=f"{party['number']}-{facts['number']}",
                         lines=[{"net_amount": facts["net"], "tax_code": "USt19", "account": "8400"}])
    else:  # guidance that says post_booking on the receivables account
        await agent.call("post_booking", booking_date=facts["date"], description=f"Beratung {facts['number']}",
                         external_reference=facts["number"], idempotency_key=facts["number"],
                         lines=[{"debit_account": "1400", "credit_account": "8400", "amount": facts["gross"],
                                 "tax_code": "USt19"}])


async def record_payment(agent: Agent, steps: list[str]) -> None:
    if "reconcile_transaction" in steps:  # import the statement line, take the suggestion, reconcile
        assert steps.index("import_bank_statement") < steps.index("suggest_matches") < steps.index(
            "reconcile_transaction") < steps.index("get_bank_reconciliation"), steps
        found = (await agent.call("list_bank_accounts"))["bank_accounts"]
        bank = found[0] if found else await agent.call("save_bank_account", name="Sparkasse Geschäftskonto",
                                                       iban="DE89370400440532013000", ledger_account="1200")
        imported = await agent.call("import_bank_statement", bank_account_id=bank["id"], rows=[
            {"booking_date": "2026-03-20", "amount": "2380.00", "counterparty_name": "Kanzlei Weber & Partner",
             "remittance_information": "AR-2026-007"}])
        assert imported["imported"] == 1
        suggested = (await agent.call("suggest_matches", bank_account_id=bank["id"]))["suggestions"]
        best = suggested[0]["candidates"][0]
        assert best["score"] >= 0.8, best
        transaction_id = suggested[0]["bank_transaction_id"]
        await agent.call("reconcile_transaction", **{"bank_transaction_ids": [transaction_id], **best["reconcile"]},
                         idempotency_key=f"rec-{transaction_id}")
        view = await agent.call("get_bank_reconciliation", bank_account_id=bank["id"])
        assert view["open"]["count"] == 0, view
    elif "settle_open_items" in steps:
        items = (await agent.call("list_open_items", kind="receivable"))["open_items"]
        item = next(i for i in items if i["invoice_number"] == "AR-2026-007")
        await agent.call("settle_open_items", items=[{"invoice_id": item["invoice_id"]}], payment_date="2026-03-20",
                         account="1200", reference="AR-2026-007 Weber",
                         idempotency_key="2026-03-20-2380.00-AR-2026-007")
    else:
        await agent.call("post_booking", booking_date="2026-03-20", description="Zahlung AR-2026-007",
                         external_reference="AR-2026-007", idempotency_key="2026-03-20-2380.00",
                         lines=[{"debit_account": "1200", "credit_account": "1400", "amount": "2380.00"}])


async def book_supplier_document(agent: Agent, steps: list[str]) -> None:
    assert {"ingest_document", "approve_review_case"} <= set(steps), steps
    pdf = INVOICES / "facturx_en16931.pdf"
    ingested = await agent.call("ingest_document", filename=pdf.name,
                                content_base64=base64.b64encode(pdf.read_bytes()).decode())
    case_id = ingested["review_case"]["id"]
    try:
        await agent.call("approve_review_case", review_case_id=case_id)
    except ToolError as refused:  # no vendor yet: the hint says how to create it from the case
        assert "create_vendor" in refused.error["hint"], refused.error
        await agent.call("update_review_case", review_case_id=case_id, create_vendor=True)
        await agent.call("approve_review_case", review_case_id=case_id)


async def correct_a_booking(agent: Agent, settings: Settings, instructions: str) -> None:
    assert "reverse_intent" in agent.named(instructions)
    wrong = await agent.call("post_booking", booking_date="2026-03-25", description="Porto",
                             idempotency_key="porto-03", lines=[{"debit_account": "4910", "credit_account": "1000",
                                                                 "amount": "85.00"}])
    await with_confirmation(agent, settings, "reverse_intent", intent_id=wrong["intent_id"], reason="8.50, not 85.00")
    await agent.call("post_booking", booking_date="2026-03-25", description="Porto", idempotency_key="porto-03-korr",
                     lines=[{"debit_account": "4910", "credit_account": "1000", "amount": "8.50"}])


async def check_the_books(agent: Agent) -> None:
    tb = (await agent.call("run_report", report_type="trial_balance"))["trial_balance"]
    balances = {row["account"]: Decimal(row["closing_balance"]) for row in tb["rows"]}
    items = (await agent.call("list_open_items"))["open_items"]
    receivable = sum((Decimal(i["open_amount"]) for i in items if i["kind"] == "receivable"), Decimal(0))
    payable = sum((Decimal(i["open_amount"]) for i in items if i["kind"] == "payable"), Decimal(0))
    assert balances.get("1400", Decimal(0)) == receivable, (balances.get("1400"), items)
    assert -balances.get("1600", Decimal(0)) == payable, (balances.get("1600"), items)
    assert [(i["kind"], i["invoice_number"], i["remaining_amount"]) for i in items] == [
        ("payable", "ZF-2026-0815", "831.57")]
    assert tb["balanced"] and balances["4910"] == Decimal("8.50")
    assert (await agent.call("verify_chain"))["ok"]


async def test_a_month_as_the_guidance_says(settings: Settings) -> None:
    async with Client(_serve(settings, "agent"), mode="legacy") as client:
        agent = Agent(client)
        instructions = await agent.start()
        await book_customer_invoice(agent, await agent.prompt("book_invoice", invoice="AR-2026-007",
                                                              direction="outgoing"))
        await record_payment(agent, await agent.prompt("reconcile_bank_statement", bank_account="1200",
                                                       statement="2026-03-20 +2380.00 Weber AR-2026-007"))
        await book_supplier_document(agent, await agent.prompt("book_invoice", invoice="facturx_en16931.pdf"))
        await correct_a_booking(agent, settings, instructions)
        await check_the_books(agent)

        close = await agent.prompt("close_month", period="2026-03")
        assert close.index("run_report") < close.index("verify_chain") < close.index("lock_period")
        assert (await agent.call("get_period_status", period="2026-03"))["status"] == "open"
        await agent.call("lock_period", action="soft_lock", period="2026-03")
        requested = await agent.call("lock_period", action="request_lock", period="2026-03")
    async with Client(_serve(settings, "second-person"), mode="legacy") as other:
        approver = Agent(other)
        await approver.start()
        locked = await with_confirmation(approver, settings, "lock_period", action="approve_lock", period="2026-03",
                                         request_id=requested["request_id"])
        assert locked["status"] == "locked"
        await check_the_books(approver)
