"""The public view of a payment: what GET returns (with a webhook block added by intake), what
a webhook's `data` is, and what the dashboard shows. One mapper, so they cannot drift."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from common.domain.money import Money
from common.domain.payment import (
    AttemptEntry,
    PaymentRecord,
    PaymentStatus,
    ReversalEntry,
    StatusEntry,
)


class ViewModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CardOut(ViewModel):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentView(ViewModel):
    transaction_id: str
    status: PaymentStatus
    amount: str
    currency: str
    reference: str | None
    description: str | None
    metadata: dict[str, str]
    card: CardOut
    decline_code: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    history: list[StatusEntry] = Field(description="status changes, oldest first")
    bank_attempts: list[AttemptEntry] = Field(description="every call to the bank")
    reversal: ReversalEntry | None = Field(
        default=None,
        description="the gateway's reversal of an authorization it stopped waiting for",
    )

    @classmethod
    def fields_of(cls, record: PaymentRecord) -> dict[str, object]:
        """The view's fields for this payment (MoneyError if its amount cannot be one)."""
        return {
            "transaction_id": record.transaction_id,
            "status": record.status,
            "amount": Money(record.amount_minor, record.currency).to_decimal_string(),
            "currency": record.currency,
            "reference": record.reference,
            "description": record.description,
            "metadata": record.metadata,
            "card": CardOut(
                brand=record.card.brand,
                last4=record.card.last4,
                exp_month=record.card.exp_month,
                exp_year=record.card.exp_year,
            ),
            "decline_code": record.decline_code,
            "failure_reason": record.failure_reason,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "history": record.status_history
            or [StatusEntry(status=record.status, at=record.created_at)],
            "bank_attempts": record.bank_attempts,
            "reversal": record.reversal,
        }

    @classmethod
    def of(cls, record: PaymentRecord) -> PaymentView:
        return cls.model_validate(cls.fields_of(record))
