"""A payment read back for its merchant, and the resend of its webhook: the use cases behind
`GET /api/payments/{id}` and `POST /api/payments/{id}/webhook/resend`, over ports only. The
harness's dashboard resends through this same code (harness/dashboard/actions.py)."""

from __future__ import annotations

from common.domain.errors import IdempotencyConflictError, NotFoundError
from common.domain.payment import PaymentRecord
from common.domain.ports import Clock, PaymentReader, PendingPayments, WebhookDeliveries
from common.domain.webhooks import Delivery, webhook_id


class PaymentLookup:
    def __init__(
        self,
        *,
        reader: PaymentReader,
        pending: PendingPayments,
        deliveries: WebhookDeliveries,
        clock: Clock,
    ) -> None:
        self._reader = reader
        self._pending = pending
        self._deliveries = deliveries
        self._clock = clock

    def find(self, transaction_id: str) -> PaymentRecord | None:
        """The payment whichever merchant's it is: recorded by processing, or still pending."""
        return self._reader.get(transaction_id) or self._pending.get(transaction_id)

    def get(self, merchant_id: str, transaction_id: str) -> tuple[PaymentRecord, Delivery | None]:
        """The payment and, once it is final, its webhook delivery."""
        record = self.find(transaction_id)
        if record is None or record.merchant_id != merchant_id:
            raise NotFoundError("no such payment for this merchant")
        delivery = (
            self._deliveries.get(webhook_id(transaction_id)) if record.status.terminal else None
        )
        return record, delivery

    def resend_webhook(self, merchant_id: str, transaction_id: str) -> Delivery:
        """Schedule the payment's webhook event again, same webhook id, due now."""
        _record, delivery = self.get(merchant_id, transaction_id)
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
