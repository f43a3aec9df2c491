"""Hardening over HTTP with API keys: a key that may write parties but not read them learns nothing it did not send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import call
from tests.http.conftest import HttpLedger, connect, http_ledger, new_key  # noqa: F401 (fixtures)

pytestmark = pytest.mark.anyio
IBAN = "DE89370400440532013000"


async def test_a_book_only_key_cannot_read_an_iban_through_save_party(http_ledger: HttpLedger,  # noqa: F811
                                                                     new_key: Callable[..., Any]) -> None:  # noqa: F811
    admin, writer = await new_key("admin", "ledger:admin"), await new_key("writer", "ledger:book")
    async with connect(http_ledger.url, admin) as client:
        vendor = await call(client, "save_party", kind="vendor", name="Bürobedarf Schmidt GmbH", iban=IBAN,
                            vat_id="DE136695976", address="Hauptstr. 1\n10115 Berlin")
        assert vendor["iban"] == IBAN
    async with connect(http_ledger.url, writer) as client:
        noop = await call(client, "save_party", kind="vendor", party_id=vendor["id"])
        assert (noop["iban"], noop["bic"], noop["vat_id"], noop["address"]) == (None, None, None, None)
        assert noop["name"] == "Bürobedarf Schmidt GmbH"
        renamed = await call(client, "save_party", kind="vendor", party_id=vendor["id"], notes="Pays by SEPA")
        assert (renamed["iban"], renamed["notes"]) == (None, "Pays by SEPA")
    async with connect(http_ledger.url, admin) as client:  # withheld in the answer, unchanged in the ledger
        found = (await call(client, "find_parties", party_id=vendor["id"]))["parties"][0]
        assert (found["iban"], found["notes"]) == (IBAN, "Pays by SEPA")
