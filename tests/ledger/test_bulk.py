"""The bulk write path: the same bookings as post_booking, all or nothing, idempotent, period-guarded."""

from __future__ import annotations

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import bulk, chain, periods, posting
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import BatchRefused, IdempotencyConflict
from ledger_mcp.ledger.models import Intent, JournalLine, PeriodEvent
from ledger_mcp.ledger.periods import PeriodRequest
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.ledger.provenance import Channel, Provenance
from tests.conftest import CLI

pytestmark = pytest.mark.anyio

BOB = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bob")


def _booking(day: str, *lines: BookingLine, key: str | None = None, ref: str | None = None,
             **extra: object) -> BookingRequest:
    return BookingRequest(booking_date=day, description=f"Booking {ref or day}", lines=list(lines),
                          idempotency_key=key, external_reference=ref, **extra)  # type: ignore[arg-type]


def _line(debit: str | None, credit: str | None, amount: str, tax: str | None = None) -> BookingLine:
    return BookingLine(debit_account=debit, credit_account=credit, amount=amount, tax_code=tax)


MIXED = [
    _booking("2026-03-02", _line("4930", "1200", "119.00", "VSt19"), ref="RE-1"),
    _booking("2026-03-03", _line("1200", "8400", "2380.00", "USt19"), _line("1200", "8300", "10.70", "USt7")),
    _booking("2026-03-04", _line("4900", "1200", "1000.00", "RC19")),
    _booking("2026-04-01", _line("4930", None, "50.00", "VSt7"), _line("4210", None, "70.00"),
             _line(None, "1200", "100.00"), _line(None, "1000", "20.00")),
    _booking("2026-04-02", _line("1200", "1400", "500.00"), control_account_reason="migration of receivables"),
]


async def _count(db: Database, model: type) -> int:
    async def run(session: AsyncSession) -> int:
        return int((await session.exec(select(func.count()).select_from(model))).one())
    return await db.read(run)


def _shape(result: posting.PostingResult) -> list[tuple[object, ...]]:
    return [(x.debit_account, x.credit_account, x.amount, x.base_amount, x.tax_code, x.line_role, x.description)
            for x in result.lines]


async def test_a_batch_books_exactly_what_post_booking_books_and_the_chain_holds(db: Database) -> None:
    outcome = await db.write(bulk.post_many, MIXED, CLI)
    assert outcome.written == 5 and outcome.replayed == 0 and outcome.lines == sum(
        r.event_count for r in outcome.results)
    singly = [await db.write(posting.post_booking, r.model_copy(update={"skip_duplicate_check": True}), CLI)
              for r in MIXED]
    assert [_shape(r) for r in outcome.results] == [_shape(r) for r in singly]
    assert outcome.results[0].journal_number_first == 1
    assert outcome.results[-1].journal_number_last + 1 == singly[0].journal_number_first
    report = await db.read(chain.verify_chain)
    assert report.ok and report.lines_checked == 2 * outcome.lines and report.intents_checked == 10
    stored = await db.read(posting.intent_lines, outcome.results[3].intent_id)
    assert [li.audit_hash for li in stored][-1] == outcome.results[3].audit_hash


async def test_one_bad_booking_refuses_the_batch_and_names_every_bad_one(db: Database) -> None:
    batch = [MIXED[0], _booking("2026-03-05", _line("4931", "1200", "10.00")), MIXED[1],
             _booking("2026-03-06", _line("1200", "1400", "5.00")),
             _booking("2026-03-07", _line("4930", "1200", "10.00", "VSt99"))]
    with pytest.raises(BatchRefused) as refused:
        await db.write(bulk.post_many, batch, CLI)
    errors = refused.value.details["errors"]
    assert [(e["index"], e["code"]) for e in errors] == [(2, "UNKNOWN_ACCOUNT"), (4, "CONTROL_ACCOUNT"),
                                                         (5, "UNKNOWN_TAX_CODE")]
    assert "4931" in errors[0]["message"]
    assert await _count(db, Intent) == 0 and await _count(db, JournalLine) == 0


async def test_a_batch_key_replays_the_batch_and_refuses_a_different_one(db: Database) -> None:
    first = await db.write(bulk.post_many, MIXED[:3], CLI, batch_key="batch-1")
    again = await db.write(bulk.post_many, MIXED[:3], CLI, batch_key="batch-1")
    assert again.written == 0 and again.replayed == 3
    assert [r.intent_id for r in again.results] == [r.intent_id for r in first.results]
    assert all(r.replayed for r in again.results)
    for other in (MIXED[:2], MIXED[:4], [MIXED[0], MIXED[2], MIXED[1]]):
        with pytest.raises((IdempotencyConflict, BatchRefused)):
            await db.write(bulk.post_many, other, CLI, batch_key="batch-1")
    assert await _count(db, Intent) == 3


async def test_an_entry_posted_before_under_its_key_is_replayed_inside_a_new_batch(db: Database) -> None:
    single = await db.write(posting.post_booking, _booking("2026-03-02", _line("4930", "1200", "9.00"), key="k1"),
                            CLI)
    outcome = await db.write(bulk.post_many, [_booking("2026-03-02", _line("4930", "1200", "9.00"), key="k1"),
                                              MIXED[0]], CLI)
    assert outcome.written == 1 and outcome.replayed == 1
    assert outcome.results[0].intent_id == single.intent_id and outcome.results[0].replayed
    with pytest.raises(BatchRefused) as refused:
        await db.write(bulk.post_many, [_booking("2026-03-02", _line("4930", "1200", "8.00"), key="k1")], CLI)
    assert refused.value.details["errors"][0]["code"] == "IDEMPOTENCY_CONFLICT"


async def test_duplicates_in_the_ledger_and_inside_the_batch_are_refused_unless_overridden(db: Database) -> None:
    await db.write(bulk.post_many, [MIXED[0]], CLI)
    twice = _booking("2026-05-04", _line("4930", "1200", "3.00"))
    with pytest.raises(BatchRefused) as refused:
        await db.write(bulk.post_many, [MIXED[0], twice, twice], CLI)
    assert [(e["index"], e["code"]) for e in refused.value.details["errors"]] == [
        (1, "DUPLICATE_SUSPECTED"), (3, "DUPLICATE_SUSPECTED")]
    override = twice.model_copy(update={"skip_duplicate_check": True})
    outcome = await db.write(bulk.post_many, [twice, override], CLI)
    assert outcome.written == 2 and [r.duplicate_override for r in outcome.results] == [False, True]


async def test_locked_and_soft_locked_periods_refuse_every_booking_of_theirs(db: Database) -> None:
    await db.write(bulk.post_many, [_booking("2026-01-05", _line("4930", "1200", "1.00"))], CLI)
    requested = await db.write(periods.change_period, PeriodRequest(action="request_lock", period="2026-01"), CLI)
    await db.write(periods.change_period, PeriodRequest(action="approve_lock", period="2026-01",
                                                        request_id=requested.request_id), BOB)
    await db.write(periods.change_period, PeriodRequest(action="soft_lock", period="2026-02"), CLI)
    jan = _booking("2026-01-20", _line("4930", "1200", "2.00"))
    feb = _booking("2026-02-10", _line("4930", "1200", "3.00"))
    feb_ack = _booking("2026-02-11", _line("4930", "1200", "4.00"), acknowledge_soft_lock=True)
    with pytest.raises(BatchRefused) as refused:
        await db.write(bulk.post_many, [jan, MIXED[0], feb, feb_ack], CLI)
    assert [(e["index"], e["code"]) for e in refused.value.details["errors"]] == [
        (1, "PERIOD_LOCKED"), (3, "PERIOD_SOFT_LOCKED")]
    outcome = await db.write(bulk.post_many, [MIXED[0], feb_ack], CLI)

    async def acknowledged(session: AsyncSession) -> list[str | None]:
        return list((await session.exec(select(PeriodEvent.intent_id).where(
            col(PeriodEvent.action) == "acknowledge_soft_lock"))).all())
    assert await db.read(acknowledged) == [outcome.results[1].intent_id]
    assert (await db.read(chain.verify_chain)).ok


async def test_a_run_of_many_parts_stops_writing_at_the_first_refusal_and_names_the_later_ones(db: Database) -> None:
    # More bookings than one part: the parts before a refusal are already inserted when it is found.
    many = [_booking("2026-03-02", _line("4930", "1200", f"{n}.00"), ref=f"R-{n}")
            for n in range(1, 2 * bulk._PART + 2)]
    repeated = len(many) - 5
    bad = many.copy()
    bad[repeated - 1] = many[9].model_copy(update={"description": "the tenth again"})
    bad[-1] = _booking("2026-03-03", _line("4931", "1200", "1.00"))
    with pytest.raises(BatchRefused) as refused:
        await db.write(bulk.post_many, bad, CLI, with_results=False)
    errors = refused.value.details["errors"]
    assert [(e["index"], e["code"]) for e in errors] == [(repeated, "DUPLICATE_SUSPECTED"),
                                                         (len(many), "UNKNOWN_ACCOUNT")]
    assert "booking 10 of this batch" in errors[0]["message"]
    assert await _count(db, Intent) == 0 and await _count(db, JournalLine) == 0
    outcome = await db.write(bulk.post_many, many, CLI, with_results=False)
    assert (outcome.written, outcome.lines) == (len(many), len(many))
    report = await db.read(chain.verify_chain)
    assert report.ok and report.intents_checked == len(many)
    with pytest.raises(BatchRefused) as again:  # now the ledger holds them: named as existing intents
        await db.write(bulk.post_many, many[9:10], CLI)
    assert again.value.details["errors"][0]["code"] == "DUPLICATE_SUSPECTED"
    assert "already exists" in again.value.details["errors"][0]["message"]
