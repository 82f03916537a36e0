"""The payments list: the newest payments, filtered and paged. Pure: events in, records out.

A row is the payment as its events tell it: the PaymentProcessed (the ledger's outcome, as
recorded) once there is one, else the PaymentRequested as accepted (shown `pending` until the
ledger says otherwise: data.py asks it for the rows of the page shown).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from common.domain.events import PaymentProcessed, PaymentRequested
from common.domain.payment import PaymentRecord, PaymentStatus

PAGE_SIZE = 50
MAX_PAGE = 40
"""Pages beyond this are not offered: the list reads the newest (page + 1) * PAGE_SIZE
records of each partition, so a page's cost grows with its depth."""
SEARCH_WINDOW = 1000
"""A search or a status filter looks at the newest SEARCH_WINDOW payments of each partition of
payments.requested (a full transaction id is looked up in the ledger whatever its age)."""
FULL_ID_LENGTH = 36


@dataclass(frozen=True)
class Query:
    status: PaymentStatus | None = None
    q: str = ""
    page: int = 0

    @property
    def filtered(self) -> bool:
        return self.status is not None or bool(self.q)

    def per_partition(self) -> int:
        """How many of the newest records of each partition this query reads."""
        return SEARCH_WINDOW if self.filtered else (self.page + 1) * PAGE_SIZE + 1


def parse_query(status: str | None, q: str | None, page: str | None) -> Query:
    """The query string, leniently: an unknown status or a bad page number is ignored."""
    try:
        wanted = PaymentStatus(status) if status else None
    except ValueError:
        wanted = None
    n = int(page) if page and page.isdigit() else 0
    return Query(wanted, (q or "").strip()[:200], min(n, MAX_PAGE))


def newest_payments(
    requested: Iterable[PaymentRequested], processed: Mapping[str, PaymentProcessed]
) -> list[PaymentRecord]:
    """One record per payment, in the order of `requested` (newest first); a payment
    requested twice (a redrive, a retry) is listed once."""
    seen: set[str] = set()
    out = []
    for e in requested:
        if e.transaction_id in seen:
            continue
        seen.add(e.transaction_id)
        decided = processed.get(e.transaction_id)
        out.append(decided.payment_record() if decided else e.pending_record())
    return out


def matches(record: PaymentRecord, q: str) -> bool:
    """`q` is a prefix of the transaction id, the reference, or the merchant id."""
    return record.transaction_id.startswith(q) or q in (record.reference, record.merchant_id)


def undecided(status: PaymentStatus | None) -> bool:
    """Whether the filter keeps payments that have no outcome yet."""
    return status in (None, PaymentStatus.PENDING, PaymentStatus.PROCESSING)


def select(records: Sequence[PaymentRecord], query: Query) -> list[PaymentRecord]:
    """The records the query keeps; those without an outcome are kept for either of the two
    statuses before one (the ledger tells which, for the rows shown)."""
    out = []
    for r in records:
        if query.q and not matches(r, query.q):
            continue
        if query.status is not None:
            if r.status.terminal and r.status is not query.status:
                continue
            if not r.status.terminal and not undecided(query.status):
                continue
        out.append(r)
    return out


def page_of(records: Sequence[PaymentRecord], page: int) -> tuple[list[PaymentRecord], bool]:
    """The records of page `page` (0-based) and whether there is a next one."""
    start = page * PAGE_SIZE
    return list(records[start : start + PAGE_SIZE]), len(records) > start + PAGE_SIZE
