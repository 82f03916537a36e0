"""Intake's use cases over ports only: accept a payment, read one back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from common.domain.cards import CardError, brand_of, check_cvc, check_expiry, check_number
from common.domain.errors import (
    FieldProblem,
    IdempotencyConflictError,
    IdempotencyMismatchError,
    PublishInDoubtError,
    TransientError,
    ValidationFailedError,
)
from common.domain.events import CardToken, PaymentRequested
from common.domain.money import Money, MoneyError
from common.domain.payment import CardSummary, PaymentRecord, PaymentStatus
from common.domain.ports import (
    AsyncEventPublisher,
    Clock,
    IdempotencyBegun,
    IdempotencyInFlight,
    IdempotencyOutcome,
    IdempotencyReplay,
    IntakeRecords,
    Merchant,
    PaymentReader,
    PendingPayments,
    PublishFence,
    StoredResponse,
    WebhookDeliveries,
)
from common.domain.webhook_url import (
    WEBHOOK_PORTS,
    CachingResolver,
    Resolver,
    WebhookUrlError,
    check_webhook_url,
    host_to_resolve,
)
from common.domain.webhooks import Delivery
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from functions.intake.canonical import canonical_request
from functions.intake.payment_lookup import PaymentLookup
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
    webhook_ports: frozenset[int] = WEBHOOK_PORTS
    """The ports a webhook URL may name unless private URLs are allowed."""


@dataclass(frozen=True)
class ValidPayment:
    money: Money
    card_number: str
    brand: str


@dataclass(frozen=True)
class Draft:
    """A valid request on its way to being accepted, under its transaction id."""

    merchant: Merchant
    request: PaymentRequestIn
    valid: ValidPayment
    card: CardSummary
    transaction_id: str
    at: datetime

    def pending_record(self) -> PaymentRecord:
        return PaymentRecord(
            transaction_id=self.transaction_id,
            merchant_id=self.merchant.merchant_id,
            status=PaymentStatus.PENDING,
            amount_minor=self.valid.money.minor,
            currency=self.valid.money.currency,
            reference=self.request.reference,
            description=self.request.description,
            metadata=self.request.metadata,
            card=self.card,
            created_at=self.at,
            updated_at=self.at,
        )

    def accepted_response(self) -> StoredResponse:
        body = PaymentAccepted(
            transaction_id=self.transaction_id,
            status=PaymentStatus.PENDING,
            amount=self.valid.money.to_decimal_string(),
            currency=self.valid.money.currency,
            reference=self.request.reference,
            created_at=self.at,
        )
        return StoredResponse(
            status_code=202,
            body=body.model_dump_json(by_alias=True).encode(),
            location=f"/api/payments/{self.transaction_id}",
        )


def idempotent_transaction_id(merchant_id: str, idempotency_key: str, request_hash: str) -> str:
    """The transaction id of a request under an Idempotency-Key: merchant, key and the digest
    of the canonical request. Once the key's record is gone (expired, Redis lost it), a replay
    of the same request still lands on the same transaction, which processing claims once;
    the same key with another body is another payment (as Stripe treats a key after 24 h)."""
    return str(uuid.uuid5(_IDEMPOTENT_IDS, f"{merchant_id}\0{idempotency_key}\0{request_hash}"))


class IntakeService:
    def __init__(
        self,
        *,
        publisher: AsyncEventPublisher,
        records: IntakeRecords,
        fence: PublishFence,
        pending: PendingPayments,
        reader: PaymentReader,
        deliveries: WebhookDeliveries,
        vault: CardVault,
        hasher: KeyedHasher,
        resolve: CachingResolver,
        clock: Clock,
        policy: IntakePolicy,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._publisher = publisher
        self._records = records
        self._fence = fence
        self._lookup = PaymentLookup(
            reader=reader, pending=pending, deliveries=deliveries, clock=clock
        )
        self._vault = vault
        self._hasher = hasher
        self._resolve = resolve
        self._clock = clock
        self._policy = policy
        self._new_id = new_id

    async def accept(
        self,
        merchant: Merchant,
        request: PaymentRequestIn,
        idempotency_key: str | None,
        trace_id: str,
    ) -> Accepted:
        """Validate; take the key and record the pending payment (one round trip); publish;
        202 once the broker acknowledged or, when its answer is in doubt, once the ledger
        says processing has the payment."""
        mid, key = merchant.merchant_id, idempotency_key
        request_hash = (
            self._hasher.digest("idempotency-request", canonical_request(request))
            if key is not None
            else ""
        )
        try:
            valid = await self._validate(request)
        except ValidationFailedError:
            if key is not None:
                # A retry of an accepted payment gets its 202 back even if its card expired
                # (or its webhook host stopped resolving) in between.
                held = await self._held(mid, key, request_hash)
                if held is not None:
                    return _answer(held)
            raise
        now = self._clock.now()
        transaction_id = (
            idempotent_transaction_id(mid, key, request_hash) if key is not None else self._new_id()
        )
        draft = Draft(
            merchant, request, valid, self._card_summary(request, valid), transaction_id, now
        )
        outcome = await self._records.begin(mid, key, request_hash, draft.pending_record())
        if not isinstance(outcome, IdempotencyBegun):
            return _answer(outcome)
        event = self._event(draft)
        try:
            await self._publisher.publish_async(
                self._policy.topic, transaction_id, event.to_json(), event.headers(trace_id)
            )
        except PublishInDoubtError as doubt:
            try:
                claimed = await self._claimed_despite(doubt, event)
            except TransientError:  # unsettled: the answer says it may have been accepted
                await self._abandon(mid, key, transaction_id)
                raise doubt from None
            if not claimed:  # voided: nothing was accepted, truly
                await self._abandon(mid, key, transaction_id)
                raise TransientError(doubt.dependency, doubt.detail) from None
        except TransientError:
            await self._abandon(mid, key, transaction_id)
            raise
        response = draft.accepted_response()
        if key is not None:
            try:
                await self._records.complete(mid, key, request_hash, response)
            except TransientError as exc:
                # Accepted is accepted: answer 202. A retry within the in-flight lease gets 409.
                log.warning("idempotency record not stored", extra={"reason": str(exc)})
        return Accepted(response, replayed=False)

    def get(self, merchant: Merchant, transaction_id: str) -> tuple[PaymentRecord, Delivery | None]:
        """The payment and, once it is final, its webhook delivery."""
        return self._lookup.get(merchant.merchant_id, transaction_id)

    def resend_webhook(self, merchant: Merchant, transaction_id: str) -> Delivery:
        """Schedule the payment's webhook event again, same webhook id, due now."""
        return self._lookup.resend_webhook(merchant.merchant_id, transaction_id)

    # -- steps ------------------------------------------------------------------

    async def _held(
        self, merchant_id: str, key: str, request_hash: str
    ) -> IdempotencyOutcome | None:
        """What the key holds, for a request that failed validation (None: nothing to
        answer in its place; a cache that cannot answer now holds nothing either)."""
        try:
            held = await self._records.peek(merchant_id, key, request_hash)
        except TransientError:
            return None
        return None if held is None or isinstance(held, IdempotencyBegun) else held

    async def _claimed_despite(self, doubt: PublishInDoubtError, event: PaymentRequested) -> bool:
        """The broker may have the event: void this publish in the ledger, unless processing
        claimed it first. True: the payment is durable after all (202)."""
        log.warning(
            "publish in doubt; settling it in the ledger",
            extra={"transactionId": event.transaction_id, "reason": doubt.detail},
        )
        claimed = not await asyncio.to_thread(
            self._fence.void, event.transaction_id, event.event_id, self._clock.now()
        )
        log.warning(
            "publish in doubt settled",
            extra={"transactionId": event.transaction_id, "claimed": claimed},
        )
        return claimed

    async def _abandon(self, merchant_id: str, key: str | None, transaction_id: str) -> None:
        try:
            await self._records.abandon(merchant_id, key, transaction_id)
        except TransientError as exc:  # the key's lease runs out on its own
            log.warning("idempotency key not freed", extra={"reason": str(exc)})

    async def _validate(self, request: PaymentRequestIn) -> ValidPayment:
        host = host_to_resolve(request.webhook_url)
        if host is not None and not self._resolve.known(host):
            with contextlib.suppress(OSError, UnicodeError):  # kept: the check refuses it
                await asyncio.to_thread(self._resolve, host)  # the one lookup that blocks
        return validate_payment(
            request,
            self._clock.now().date(),
            self._resolve,
            self._policy.allow_private_webhook_urls,
            self._policy.webhook_ports,
        )

    def _card_summary(self, request: PaymentRequestIn, valid: ValidPayment) -> CardSummary:
        return CardSummary(
            brand=valid.brand,
            last4=valid.card_number[-4:],
            exp_month=request.card.exp_month,
            exp_year=request.card.exp_year,
            fingerprint=self._vault.fingerprint(valid.card_number),
        )

    def _event(self, d: Draft) -> PaymentRequested:
        return PaymentRequested(
            event_id=str(uuid.uuid4()),
            occurred_at=d.at,
            transaction_id=d.transaction_id,
            merchant_id=d.merchant.merchant_id,
            amount_minor=d.valid.money.minor,
            currency=d.valid.money.currency,
            reference=d.request.reference,
            description=d.request.description,
            metadata=d.request.metadata,
            webhook_url=d.request.webhook_url,
            card=CardToken(
                **d.card.model_dump(),
                token=self._vault.tokenize(d.valid.card_number, d.transaction_id),
            ),
        )


def validate_payment(
    request: PaymentRequestIn,
    today: date,
    resolve: Resolver,
    allow_private_urls: bool,
    webhook_ports: frozenset[int],
) -> ValidPayment:
    """Every check of a payment request beyond its shape; all problems at once."""
    problems: list[FieldProblem] = []
    money = card_number = brand = None
    try:
        money = Money.parse(request.amount, request.currency)
    except MoneyError as exc:
        problems.append(FieldProblem(exc.field, str(exc)))
    try:
        card_number = check_number(request.card.number)
        brand = brand_of(card_number)
    except CardError as exc:
        problems.append(FieldProblem(f"card.{exc.field}", str(exc)))
    try:
        check_cvc(request.card.cvc, brand or "unknown")
    except CardError as exc:
        problems.append(FieldProblem(f"card.{exc.field}", str(exc)))
    try:
        check_expiry(request.card.exp_month, request.card.exp_year, today)
    except CardError as exc:
        problems.append(FieldProblem(f"card.{exc.field}", str(exc)))
    try:
        check_webhook_url(request.webhook_url, resolve, allow_private_urls, webhook_ports)
    except WebhookUrlError as exc:
        problems.append(FieldProblem("webhookUrl", str(exc)))
    if problems or money is None or card_number is None or brand is None:
        raise ValidationFailedError("the payment request is invalid", problems)
    return ValidPayment(money, card_number, brand)


def _answer(held: IdempotencyOutcome) -> Accepted:
    """The answer for a key held by another request than this one."""
    if isinstance(held, IdempotencyReplay):
        return Accepted(held.response, replayed=True)
    if isinstance(held, IdempotencyInFlight):
        raise IdempotencyConflictError(
            "a request with this Idempotency-Key is still in progress; retry shortly"
        )
    raise IdempotencyMismatchError("this Idempotency-Key was used with a different request body")
