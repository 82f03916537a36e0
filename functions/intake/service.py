"""Intake's use cases over ports only: accept a payment, read one back."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from common.domain.cards import CardError, brand_of, check_cvc, check_expiry, check_number
from common.domain.errors import (
    DomainError,
    FieldProblem,
    IdempotencyConflictError,
    IdempotencyMismatchError,
    NotFoundError,
    TransientError,
    ValidationFailedError,
)
from common.domain.events import CardToken, PaymentRequested
from common.domain.money import Money, MoneyError
from common.domain.payment import CardSummary, PaymentRecord, PaymentStatus
from common.domain.ports import (
    Clock,
    EventPublisher,
    IdempotencyBegun,
    IdempotencyInFlight,
    IdempotencyMismatch,
    IdempotencyReplay,
    IdempotencyStore,
    Merchant,
    PaymentReader,
    PendingPayments,
    StoredResponse,
    WebhookDeliveries,
)
from common.domain.webhook_url import Resolver, WebhookUrlError, check_webhook_url
from common.domain.webhooks import Delivery, webhook_id
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from functions.intake.schemas import PaymentAccepted, PaymentRequestIn

log = logging.getLogger(__name__)

_IDEMPOTENT_IDS = uuid.UUID("0c6f8e52-3b0e-4f4e-8d8a-6a1f9b2c7d31")


@dataclass(frozen=True)
class Accepted:
    response: StoredResponse
    replayed: bool


@dataclass(frozen=True)
class IntakePolicy:
    topic: str
    allow_private_webhook_urls: bool


@dataclass(frozen=True)
class ValidPayment:
    money: Money
    card_number: str
    brand: str


class IntakeService:
    def __init__(
        self,
        *,
        publisher: EventPublisher,
        idempotency: IdempotencyStore,
        pending: PendingPayments,
        reader: PaymentReader,
        deliveries: WebhookDeliveries,
        vault: CardVault,
        hasher: KeyedHasher,
        resolve: Resolver,
        clock: Clock,
        policy: IntakePolicy,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._publisher = publisher
        self._idempotency = idempotency
        self._pending = pending
        self._reader = reader
        self._deliveries = deliveries
        self._vault = vault
        self._hasher = hasher
        self._resolve = resolve
        self._clock = clock
        self._policy = policy
        self._new_id = new_id

    def accept(
        self,
        merchant: Merchant,
        request: PaymentRequestIn,
        idempotency_key: str | None,
        trace_id: str,
    ) -> Accepted:
        if idempotency_key is None:
            valid = self._validate(request)
            response = self._publish(merchant, request, valid, trace_id, self._new_id())
            return Accepted(response, replayed=False)

        request_hash = self._hasher.digest(
            "idempotency-request", request.model_dump_json(by_alias=True).encode()
        )
        outcome = self._idempotency.begin(merchant.merchant_id, idempotency_key, request_hash)
        if isinstance(outcome, IdempotencyReplay):
            return Accepted(outcome.response, replayed=True)
        if isinstance(outcome, IdempotencyInFlight):
            raise IdempotencyConflictError(
                "a request with this Idempotency-Key is still in progress; retry shortly"
            )
        if isinstance(outcome, IdempotencyMismatch):
            raise IdempotencyMismatchError(
                "this Idempotency-Key was used with a different request body"
            )
        assert isinstance(outcome, IdempotencyBegun)
        # Validation comes after the replay check, so a retry of an accepted payment gets its
        # 202 back even if the card expired or DNS hiccups in between. The transaction id is
        # derived from the key: should an acknowledgement time out although Kafka kept the
        # event, the client's retry publishes the same transaction again and processing
        # deduplicates it, instead of a second payment being charged.
        try:
            valid = self._validate(request)
            transaction_id = str(
                uuid.uuid5(_IDEMPOTENT_IDS, f"{merchant.merchant_id}\0{idempotency_key}")
            )
            response = self._publish(merchant, request, valid, trace_id, transaction_id)
        except (DomainError, TransientError):
            self._idempotency.abandon(merchant.merchant_id, idempotency_key)
            raise
        try:
            self._idempotency.complete(
                merchant.merchant_id, idempotency_key, request_hash, response
            )
        except TransientError as exc:
            # Accepted is accepted: answer 202. A retry within the in-flight lease gets 409.
            log.warning("idempotency record not stored", extra={"reason": str(exc)})
        return Accepted(response, replayed=False)

    def get(self, merchant: Merchant, transaction_id: str) -> tuple[PaymentRecord, Delivery | None]:
        """The payment and, once it is final, its webhook delivery."""
        record = self._reader.get(transaction_id) or self._pending.get(transaction_id)
        if record is None or record.merchant_id != merchant.merchant_id:
            raise NotFoundError("no such payment for this merchant")
        delivery = (
            self._deliveries.get(webhook_id(transaction_id)) if record.status.terminal else None
        )
        return record, delivery

    def resend_webhook(self, merchant: Merchant, transaction_id: str) -> Delivery:
        """Schedule the payment's webhook event again, same webhook id, due now."""
        _record, delivery = self.get(merchant, transaction_id)
        if delivery is None:
            raise IdempotencyConflictError(
                "this payment has no webhook yet: it is sent once the payment is final"
            )
        rescheduled: Delivery | None = self._deliveries.reschedule(
            delivery.webhook_id, self._clock.now()
        )
        if rescheduled is None:
            raise NotFoundError("no such webhook")
        return rescheduled

    # -- steps ------------------------------------------------------------------

    def _validate(self, request: PaymentRequestIn) -> ValidPayment:
        problems: list[FieldProblem] = []
        money = card_number = brand = None
        try:
            money = Money.parse(request.amount, request.currency)
        except MoneyError as exc:
            field = "currency" if "currency" in str(exc) else "amount"
            problems.append(FieldProblem(field, str(exc)))
        try:
            card_number = check_number(request.card.number)
            brand = brand_of(card_number)
        except CardError as exc:
            problems.append(FieldProblem("card.number", str(exc)))
        try:
            check_cvc(request.card.cvc, brand or "unknown")
        except CardError as exc:
            problems.append(FieldProblem("card.cvc", str(exc)))
        try:
            today: date = self._clock.now().date()
            check_expiry(request.card.exp_month, request.card.exp_year, today)
        except CardError as exc:
            field = "card.expYear" if "expYear" in str(exc) else "card.expMonth"
            problems.append(FieldProblem(field, str(exc)))
        try:
            check_webhook_url(
                request.webhook_url, self._resolve, self._policy.allow_private_webhook_urls
            )
        except WebhookUrlError as exc:
            problems.append(FieldProblem("webhookUrl", str(exc)))
        if problems or money is None or card_number is None or brand is None:
            raise ValidationFailedError("the payment request is invalid", problems)
        return ValidPayment(money, card_number, brand)

    def _publish(
        self,
        merchant: Merchant,
        request: PaymentRequestIn,
        valid: ValidPayment,
        trace_id: str,
        transaction_id: str,
    ) -> StoredResponse:
        """Record the pending payment, then publish; accepted once the broker acknowledged."""
        now = self._clock.now()
        card = CardSummary(
            brand=valid.brand,
            last4=valid.card_number[-4:],
            exp_month=request.card.exp_month,
            exp_year=request.card.exp_year,
            fingerprint=self._vault.fingerprint(valid.card_number),
        )
        event = PaymentRequested(
            event_id=str(uuid.uuid4()),
            occurred_at=now,
            transaction_id=transaction_id,
            merchant_id=merchant.merchant_id,
            amount_minor=valid.money.minor,
            currency=valid.money.currency,
            reference=request.reference,
            description=request.description,
            metadata=request.metadata,
            webhook_url=request.webhook_url,
            card=CardToken(
                **card.model_dump(), token=self._vault.tokenize(valid.card_number, transaction_id)
            ),
        )
        self._pending.put(
            PaymentRecord(
                transaction_id=transaction_id,
                merchant_id=merchant.merchant_id,
                status=PaymentStatus.PENDING,
                amount_minor=valid.money.minor,
                currency=valid.money.currency,
                reference=request.reference,
                description=request.description,
                metadata=request.metadata,
                card=card,
                created_at=now,
                updated_at=now,
            )
        )
        try:
            self._publisher.publish(
                self._policy.topic, transaction_id, event.to_json(), event.headers(trace_id)
            )
        except TransientError:
            self._pending.discard(transaction_id)
            raise
        body = PaymentAccepted(
            transaction_id=transaction_id,
            status=PaymentStatus.PENDING,
            amount=valid.money.to_decimal_string(),
            currency=valid.money.currency,
            reference=request.reference,
            created_at=now,
        )
        return StoredResponse(
            status_code=202,
            body=json.dumps(body.model_dump(mode="json", by_alias=True)).encode(),
            location=f"/api/payments/{transaction_id}",
        )
