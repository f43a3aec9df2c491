// Another client than our own: the MCP TypeScript SDK, as Node-based agents and hosts use it, drives
// `ledger-mcp serve` over stdio the way the server's instructions tell an agent to, and checks the books.
// The SDK validates every structured result against the tool's output schema, so this also checks that
// the lean output schemas hold for what the tools return.
//
// node ts-agent.mjs PYTHON DATA_DIR  (run from a folder whose node_modules has @modelcontextprotocol/sdk)
import { execFileSync } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [python, dataDir] = process.argv.slice(2);
const ledger = ["--data-dir", dataDir];

function check(condition, what, result) {
  if (!condition) {
    console.error(`ts-agent: FAILED: ${what}`);
    if (result !== undefined) console.error(JSON.stringify(result, null, 1).slice(0, 2000));
    process.exit(1);
  }
}

function errorOf(result) {
  return result.isError ? JSON.parse(result.content[0].text).error : null;
}

const client = new Client({ name: "ts-agent", version: "1.0.0" });
await client.connect(new StdioClientTransport({
  command: python, args: ["-m", "ledger_mcp", "serve", ...ledger, "--actor", "ts-agent"], stderr: "inherit",
}));

async function call(name, args) {
  const result = await client.callTool({ name, arguments: args });
  check(!result.isError, `${name} failed`, result);
  return result.structuredContent;
}

const { tools } = await client.listTools();
const listed = JSON.stringify({ tools }).length;
console.log(`ts-agent: ${tools.length} tools, tools/list ${listed} characters`);
check(tools.every((t) => t.inputSchema.additionalProperties === false), "every input schema is strict");

// A customer invoice, as the instructions say: the party first, then create_invoice.
const customer = await call("save_party", { kind: "customer", name: "Kunde AG" });
const invoice = await call("create_invoice", {
  direction: "receivable", party_id: customer.id, invoice_number: "AR-2026-001", invoice_date: "2026-03-02",
  total_gross: "2380.00", lines: [{ net_amount: "2000.00", tax_code: "USt19", account: "8400" }],
  idempotency_key: "ts-inv-1",
});
let open = await call("list_open_items", { kind: "receivable" });
check(open.open_items.length === 1 && open.total_receivable === "2380.00", "the invoice is open", open);

// A misspelt argument is refused with the right name, never dropped.
const misspelt = errorOf(await client.callTool({ name: "settle_open_items", arguments: {
  items: [{ invoice_id: invoice.id }], payment_date: "2026-03-20", account: "1200", idempotencyKey: "ts-pay-1" } }));
check(misspelt?.code === "VALIDATION_ERROR" && misspelt.details.did_you_mean.idempotencyKey === "idempotency_key",
  "idempotencyKey is refused with did_you_mean", misspelt);

// Its payment settles the item.
await call("settle_open_items", { items: [{ invoice_id: invoice.id }], payment_date: "2026-03-20", account: "1200",
  idempotency_key: "ts-pay-1" });
open = await call("list_open_items", { kind: "receivable" });
check(open.open_items.length === 0, "the paid invoice is settled", open);

// A wrong booking corrected with a Storno: this client has no elicitation, so the server answers
// CONFIRMATION_REQUIRED; the owner grants it on the server's machine and the agent repeats the call.
const wrong = await call("post_booking", { booking_date: "2026-03-05", description: "Porto", idempotency_key: "ts-b-1",
  lines: [{ debit_account: "4910", credit_account: "1000", amount: "85.00" }] });
const storno = { intent_id: wrong.intent_id, reason: "8.50, not 85.00" };
const pending = errorOf(await client.callTool({ name: "reverse_intent", arguments: storno }));
check(pending?.code === "CONFIRMATION_REQUIRED" && pending.details.confirmation_id, "Storno needs a human", pending);
execFileSync(python, ["-m", "ledger_mcp", "confirm", "grant", pending.details.confirmation_id, ...ledger,
  "--actor", "owner"], { stdio: "inherit" });
const reversed = await call("reverse_intent", { ...storno, confirmation_id: pending.details.confirmation_id });
check(reversed.reverses_intent_id === wrong.intent_id, "the granted Storno reverses the booking", reversed);

// The books: receivables equal the (empty) subledger, the Storno nets out, the chain holds.
const tb = await call("run_report", { report_type: "trial_balance", end_date: "2026-03-31" });
const rows = tb.trial_balance.rows;
const balance = (account) => rows.find((r) => r.account === account)?.closing_balance ?? "0.00";
check(balance("1400") === "0.00" && balance("4910") === "0.00" && balance("1200") === "2380.00",
  "trial balance: 1400 and 4910 at zero, 2380.00 in the bank", tb);
const verified = await call("verify_chain", {});
check(verified.ok === true, "the chain verifies", verified);
await client.close();
console.log("ts-agent: invoice, payment, refused misspelling, granted Storno and the books all as expected");
