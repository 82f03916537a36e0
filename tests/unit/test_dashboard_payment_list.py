"""The payments list: newest first, one row per payment, filtered and paged
(harness/dashboard/payment_list.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from common.domain.events import CardToken, PaymentProcessed, PaymentRequested
from common.domain.payment import PaymentStatus
from common.domain.ports import Outcome
from functions.process.service import processed_event
from harness.dashboard import payment_list
from harness.dashboard.payment_list import Query, parse_query

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def requested(i: int, merchant: str = "mer_a", reference: str | None = None) -> PaymentRequested:
    return PaymentRequested(
        event_id=str(uuid.uuid4()),
        occurred_at=T0 + timedelta(seconds=i),
        transaction_id=f"{i:08d}-0000-4000-8000-000000000000",
        merchant_id=merchant,
        amount_minor=100 + i,
        currency="EUR",
        reference=reference or f"order-{i}",
        webhook_url="http://127.0.0.1:9/hooks",
        card=CardToken(
            token="sealed",
            brand="visa",
            last4="4242",
            exp_month=1,
            exp_year=2030,
            fingerprint="fp",
        ),
    )


def processed(r: PaymentRequested, status: str) -> PaymentProcessed:
    """What process publishes for this outcome (its own mapper), 50 ms after the request."""
    decided = r.occurred_at + timedelta(milliseconds=50)
    return processed_event(r, Outcome(PaymentStatus(status)), [], r.occurred_at, decided)


def test_rows_are_one_per_payment_newest_first_with_their_outcome() -> None:
    reqs = [requested(i) for i in (3, 2, 1)]
    rows = payment_list.newest_payments(
        [reqs[0], *reqs, reqs[1]], {reqs[1].transaction_id: processed(reqs[1], "declined")}
    )
    assert [r.transaction_id for r in rows] == [r.transaction_id for r in reqs]
    assert [r.status for r in rows] == ["pending", "declined", "pending"]
    assert "token" not in rows[0].card.model_dump()


def test_a_query_matches_an_id_prefix_a_reference_or_a_merchant() -> None:
    reqs = [requested(1), requested(2, "mer_b", "shared"), requested(3, "mer_b")]
    out = {reqs[2].transaction_id: processed(reqs[2], "succeeded")}
    rows = payment_list.newest_payments(reqs, out)

    def ids(query: Query) -> list[str]:
        return [r.transaction_id[:8] for r in payment_list.select(rows, query)]

    assert ids(Query(q="00000001")) == ["00000001"]
    assert ids(Query(q="shared")) == ["00000002"]
    assert ids(Query(q="mer_b")) == ["00000002", "00000003"]
    assert ids(Query(q="mer_b", status=PaymentStatus.SUCCEEDED)) == ["00000003"]
    assert ids(Query(status=PaymentStatus.DECLINED)) == []
    # not decided in the window: kept for pending and processing (the ledger tells which)
    assert ids(Query(status=PaymentStatus.PROCESSING)) == ["00000001", "00000002"]


def test_pages_of_fifty_and_a_lenient_query_string() -> None:
    rows = payment_list.newest_payments([requested(i) for i in range(120, 0, -1)], {})
    first, more = payment_list.page_of(rows, 0)
    last, after_last = payment_list.page_of(rows, 2)
    assert len(first) == 50 and more and len(last) == 20 and not after_last
    assert parse_query("nonsense", " q ", "-1") == Query(None, "q", 0)
    assert parse_query("failed", None, "999") == Query(PaymentStatus.FAILED, "", 40)
    assert Query(page=1).per_partition() == 101
    assert Query(q="x").per_partition() == payment_list.SEARCH_WINDOW
