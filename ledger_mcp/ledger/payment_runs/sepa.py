"""The pain.001 credit transfer file of a payment run, built with `sepaxml` and validated against the
ISO 20022 XSD it ships (pain.001.001.09, and .001.03 for banks that still want it) before it leaves.
The run's ids replace the random ones sepaxml draws, so validation runs after that, here."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.models import BankAccount, PaymentRun, PaymentRunItem

if TYPE_CHECKING:
    from lxml import etree

SepaFormat = Literal["pain.001.001.09", "pain.001.001.03"]
# sepaxml and lxml are imported where a file is built: a server that exports no payment run never loads them.


def credit_transfer(run: PaymentRun, account: BankAccount, items: list[PaymentRunItem], debtor_name: str,
                    schema: SepaFormat) -> bytes:
    """The XML, batch-booked as one debit, its MsgId and PmtInfId the run's message id."""
    from lxml import etree
    from sepaxml import SepaTransfer

    config = {"name": debtor_name, "IBAN": account.iban, "BIC": account.bic, "batch": True,
              "currency": run.currency}
    if not account.bic:
        del config["BIC"]
    sepa = SepaTransfer(config, schema=schema, clean=True)
    for item in items:
        payment = {"name": item.creditor_name, "IBAN": item.creditor_iban, "amount": item.amount,
                   "execution_date": run.execution_date,
                   "description": item.remittance, "endtoend_id": item.end_to_end_id}
        if item.creditor_bic:
            payment["BIC"] = item.creditor_bic
        sepa.add_payment(payment)
    # sepaxml draws random ids; the run's own make a re-export the same order and let the bank's statement
    # line name the run.
    root = etree.fromstring(sepa.export(validate=False))
    ns = {"p": f"urn:iso:std:iso:20022:tech:xsd:{schema}"}
    for node in root.xpath("//p:GrpHdr/p:MsgId | //p:PmtInf/p:PmtInfId", namespaces=ns):
        node.text = run.message_id
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    xsd = _schema(schema)
    if not xsd.validate(root):
        raise ValidationFailed(f"The {schema} file does not validate against its XSD: {xsd.error_log.last_error}",
                               hint="Check the creditor names, IBANs and BICs of the run's vendors.",
                               details={"payment_run_id": run.id})
    return bytes(xml)


@cache
def _schema(schema: SepaFormat) -> etree.XMLSchema:
    """The ISO 20022 XSD as sepaxml ships it, parsed once (lxml validates a file in milliseconds)."""
    import sepaxml
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(Path(sepaxml.__file__).parent / "schemas" / f"{schema}.xsd")))
