"""Webhook deliveries in MongoDB's `webhook_deliveries` collection, `_id` = webhook id.

    transactionId, merchantId, url, body (the exact bytes signed on every attempt), status
    (scheduled | delivered | failed), nextAttemptAt, createdAt, updatedAt,
    attempts [{at, statusCode, error, latencyMs}]

The insert against `_id` makes a redelivered PaymentProcessed a no-op; the schedule lives
here, so retries survive any restart. New deliveries of webhooks sent concurrently in one
process are inserted together (common/adapters/mongo_group_commit.py: one insert_many).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import Binary
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from common.adapters.mongo_connection import mongo_errors
from common.adapters.mongo_group_commit import GroupCommit
from common.domain.webhooks import Delivery, DeliveryAttempt, DeliveryStatus

DELIVERIES = "webhook_deliveries"


class MongoWebhookDeliveries:
    def __init__(self, deliveries: Collection[dict[str, Any]]) -> None:
        self._c = deliveries
        self._creates: GroupCommit[dict[str, Any], bool] = GroupCommit(self._insert)

    def create(self, delivery: Delivery) -> bool:
        """Insert a new delivery; False if one exists already for this webhook id."""
        return self._creates.submit(_doc(delivery))

    def _insert(self, docs: Sequence[dict[str, Any]]) -> list[bool | Exception]:
        duplicates: set[int] = set()
        with mongo_errors():
            try:
                self._c.insert_many(list(docs), ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                    raise
                duplicates = {e["index"] for e in errors}
        return [i not in duplicates for i in range(len(docs))]

    def claim(self, delivery: Delivery, until: datetime) -> bool:
        """Push the next attempt to `until`; True if the delivery was still as `due` read it.

        Filtered by `_id` alone (FerretDB 1.24 decodes the whole collection for any other
        filter); the guard is the document as it was before. A run that lost the race puts
        back the lease it moved (someone else is sending that delivery).
        """
        with mongo_errors():
            before = self._c.find_one_and_update(
                {"_id": delivery.webhook_id}, {"$set": {"nextAttemptAt": until}}
            )
            if before is None:
                return False
            won = (
                before["status"] == DeliveryStatus.SCHEDULED.value
                and before.get("nextAttemptAt") == delivery.next_attempt_at
            )
            if not won:
                self._c.find_one_and_update(
                    {"_id": delivery.webhook_id},
                    {"$set": {"nextAttemptAt": before.get("nextAttemptAt")}},
                )
        return won

    def save(self, delivery: Delivery) -> None:
        # One by one: FerretDB 1.24 runs a bulk `update` far slower than single updates.
        with mongo_errors():
            self._c.find_one_and_update(
                {"_id": delivery.webhook_id}, {"$set": _without_id(_doc(delivery))}
            )

    def get(self, webhook_id: str) -> Delivery | None:
        with mongo_errors():
            doc = self._c.find_one({"_id": webhook_id})
        return _delivery(doc) if doc else None

    def due(self, now: datetime, limit: int) -> list[Delivery]:
        query = {"status": DeliveryStatus.SCHEDULED.value, "nextAttemptAt": {"$lte": now}}
        with mongo_errors():
            docs = list(self._c.find(query).sort("nextAttemptAt", 1).limit(limit))
        return [_delivery(d) for d in docs]

    def reschedule(self, webhook_id: str, now: datetime) -> Delivery | None:
        """Resend: the same event (same webhook id and body) becomes due now."""
        with mongo_errors():
            doc = self._c.find_one_and_update(
                {"_id": webhook_id},
                {
                    "$set": {
                        "status": DeliveryStatus.SCHEDULED.value,
                        "nextAttemptAt": now,
                        "attempts": [],
                        "updatedAt": now,
                    }
                },
            )
        return self.get(webhook_id) if doc else None


_DUPLICATE_KEY = 11000


def _without_id(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def _doc(d: Delivery) -> dict[str, Any]:
    return {
        "_id": d.webhook_id,
        "transactionId": d.transaction_id,
        "merchantId": d.merchant_id,
        "url": d.url,
        "body": Binary(d.body),
        "status": d.status.value,
        "nextAttemptAt": d.next_attempt_at,
        "createdAt": d.created_at,
        "updatedAt": d.attempts[-1].at if d.attempts else d.created_at,
        "attempts": [
            {"at": a.at, "statusCode": a.status_code, "error": a.error, "latencyMs": a.latency_ms}
            for a in d.attempts
        ],
    }


def _delivery(doc: dict[str, Any]) -> Delivery:
    return Delivery(
        webhook_id=doc["_id"],
        transaction_id=doc["transactionId"],
        merchant_id=doc["merchantId"],
        url=doc["url"],
        body=bytes(doc["body"]),
        status=DeliveryStatus(doc["status"]),
        next_attempt_at=doc.get("nextAttemptAt"),
        created_at=doc["createdAt"],
        attempts=tuple(
            DeliveryAttempt(a["at"], a.get("statusCode"), a.get("error"), a.get("latencyMs", 0.0))
            for a in doc.get("attempts") or []
        ),
    )
