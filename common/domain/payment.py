"""The payment as the read side shows it, and its status machine."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.DECLINED, PaymentStatus.FAILED})

_NEXT: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.PROCESSING, *TERMINAL}),
    PaymentStatus.PROCESSING: TERMINAL,
}


def can_move(current: PaymentStatus, target: PaymentStatus) -> bool:
    """Forward only: pending → processing → one terminal status, which never changes."""
    return target in _NEXT.get(current, frozenset())


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class CardSummary(CamelModel):
    """What may be shown of a card: never the number, never the CVC."""

    brand: str
    last4: str = Field(pattern=r"^[0-9]{4}$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2200)
    fingerprint: str


class StatusEntry(CamelModel):
    status: PaymentStatus
    at: datetime


class AttemptEntry(CamelModel):
    """One call to the bank: when, how long, and what came of it."""

    at: datetime
    latency_ms: float
    result: str
    detail: str | None = None


class ReversalEntry(CamelModel):
    """The gateway's reversal of an authorization it stopped waiting for: sent to the bank
    before the payment was reported `failed`, so a late approval takes no money."""

    requested_at: datetime
    reason: str = "bank_timeout"
    acknowledged_at: datetime | None = None
    """When the bank confirmed it; None while it is still being retried."""


class PaymentRecord(CamelModel):
    """One payment as stored for the read side (Redis while pending, MongoDB from processing)."""

    transaction_id: str
    merchant_id: str
    status: PaymentStatus
    amount_minor: int = Field(gt=0)
    currency: str
    reference: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    card: CardSummary
    created_at: datetime
    updated_at: datetime
    decline_code: str | None = None
    failure_reason: str | None = None
    status_history: list[StatusEntry] = Field(default_factory=list)
    bank_attempts: list[AttemptEntry] = Field(default_factory=list)
    reversal: ReversalEntry | None = None
