"""Payments as processing recorded them, from MongoDB's `payments` collection.

A document is a `PaymentRecord` in its camelCase form with `_id` = transactionId; fields the
processing stage adds (status history, bank attempts) are ignored here.
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection

from common.adapters.mongo_connection import mongo_errors
from common.domain.payment import PaymentRecord

PAYMENTS = "payments"


class MongoPaymentReader:
    def __init__(self, payments: Collection[dict[str, Any]]) -> None:
        self._payments = payments

    def get(self, transaction_id: str) -> PaymentRecord | None:
        with mongo_errors():
            doc = self._payments.find_one({"_id": transaction_id})
        if doc is None:
            return None
        doc.pop("_id", None)
        return PaymentRecord.model_validate(
            {**doc, "transactionId": transaction_id}, extra="ignore"
        )
