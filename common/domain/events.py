"""Events on Kafka (DESIGN.md §6): versioned, camelCase JSON, key = transactionId.

Events we publish forbid unknown fields; a consumer parses with `parse_event`, which ignores
fields it does not know (a newer producer may add some).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from common.domain.errors import PermanentError
from common.domain.payment import (
    AttemptEntry,
    CardSummary,
    PaymentRecord,
    PaymentStatus,
    ReversalEntry,
    StatusEntry,
)


class Event(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    event_id: str = Field(min_length=1, max_length=64)
    event_type: str
    schema_version: int
    occurred_at: datetime
    transaction_id: str = Field(min_length=1, max_length=64)
    merchant_id: str = Field(min_length=1, max_length=64)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    def headers(self, trace_id: str) -> list[tuple[str, bytes]]:
        return [
            ("eventType", self.event_type.encode()),
            ("schemaVersion", str(self.schema_version).encode()),
            ("eventId", self.event_id.encode()),
            ("traceId", trace_id.encode()),
        ]


class CardToken(CardSummary):
    """The card as it leaves intake: what may be shown, plus the number sealed for the
    transaction (common/security/card_vault.py), which only processing opens."""

    token: str = Field(min_length=1)

    def summary(self) -> CardSummary:
        """What may be shown of the card: everything but the token."""
        return CardSummary.model_validate(self.model_dump(exclude={"token"}))


class PaymentRequested(Event):
    event_type: Literal["PaymentRequested"] = "PaymentRequested"
    schema_version: Literal[1] = 1
    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reference: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    webhook_url: str
    card: CardToken

    def pending_record(self) -> PaymentRecord:
        """The accepted payment as its request tells it, before processing claims it."""
        return PaymentRecord(
            transaction_id=self.transaction_id,
            merchant_id=self.merchant_id,
            status=PaymentStatus.PENDING,
            amount_minor=self.amount_minor,
            currency=self.currency,
            reference=self.reference,
            description=self.description,
            metadata=self.metadata,
            card=self.card.summary(),
            created_at=self.occurred_at,
            updated_at=self.occurred_at,
            status_history=[StatusEntry(status=PaymentStatus.PENDING, at=self.occurred_at)],
        )


class PaymentProcessed(Event):
    """The outcome of a payment; carries what the webhook shows (the payment as GET returns
    it). Its eventId is derived from the transaction id, so a republication is the same event."""

    event_type: Literal["PaymentProcessed"] = "PaymentProcessed"
    schema_version: Literal[1] = 1
    status: Literal["succeeded", "declined", "failed"]
    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reference: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    webhook_url: str
    card: CardSummary
    """After processing the card travels without its token."""
    decline_code: str | None = None
    failure_reason: str | None = None
    bank_reference: str | None = None
    attempts: int = Field(ge=0)
    created_at: datetime
    processed_at: datetime
    claimed_at: datetime | None = None
    """When processing claimed it (absent in events of before the ledger kept it)."""
    bank_attempts: list[AttemptEntry] = Field(default_factory=list)
    """Every call to the bank that led to this outcome, oldest first."""
    reversal: ReversalEntry | None = None
    """Set on a `failed` payment with an attempt the bank may have authorized unseen: the
    gateway reverses it (acknowledgedAt is filled in on the read side once the bank
    confirmed)."""

    def payment_record(self) -> PaymentRecord:
        """The decided payment, as the read side shows it."""
        history = [StatusEntry(status=PaymentStatus.PENDING, at=self.created_at)]
        if self.claimed_at is not None:
            history.append(StatusEntry(status=PaymentStatus.PROCESSING, at=self.claimed_at))
        status = PaymentStatus(self.status)
        history.append(StatusEntry(status=status, at=self.processed_at))
        return PaymentRecord(
            transaction_id=self.transaction_id,
            merchant_id=self.merchant_id,
            status=status,
            amount_minor=self.amount_minor,
            currency=self.currency,
            reference=self.reference,
            description=self.description,
            metadata=self.metadata,
            card=self.card,
            created_at=self.created_at,
            updated_at=self.processed_at,
            decline_code=self.decline_code,
            failure_reason=self.failure_reason,
            status_history=history,
            bank_attempts=self.bank_attempts,
            reversal=self.reversal,
        )


E = TypeVar("E", bound=Event)


def parse_event(model: type[E], raw: bytes) -> E:
    """Parse a consumed event, ignoring unknown fields; malformed input is permanent."""
    try:
        return model.model_validate_json(raw, extra="ignore")
    except ValidationError as exc:
        raise PermanentError(
            f"{model.__name__} invalid: {exc.error_count()} error(s): "
            f"{[e['loc'] for e in exc.errors()]}"
        ) from None
