"""Webhook deliveries as an append-only ledger (DESIGN.md §8). Immutable facts, each inserted
against a deterministic `_id` (the first insert wins), and one rebuildable projection:

webhook_deliveries  _id = webhook id. The event: transactionId, merchantId, url, body (the
                    exact bytes signed on every attempt), createdAt. Its insert is also the
                    lease of the first attempt for the batch that created it.
webhook_resends     _id = "{webhookId}#{k}": the merchant's k-th resend, which starts round k.
webhook_leases      _id = "{webhookId}#{round}#{n}@{dueAt}": a sender's right to make attempt n
                    of a round that the due-index said was due at dueAt. Concurrent scheduled
                    runs read the same entry and insert the same lease: one wins.
webhook_attempts    _id = "{webhookId}#{round}#{n}": attempt n of a round and its result
                    (statusCode or error, latency) with what it left the delivery as
                    (delivered | scheduled | failed) and the next attempt's time.
webhook_due         _id = "{webhookId}#{round}": the due-index, holding only rounds still
                    pending (attempt n due at dueAt, of merchantId's delivery). Mutable, and
                    only a projection of the attempts: a sender checks the recorded attempts
                    after taking its lease, and an entry that lags behind them is rebuilt
                    from them. An entry written before it carried merchantId is read as a
                    merchant of its own (`due`) until its next attempt rewrites it.

A delivery as the rest of the system sees it (`Delivery`) is composed by `_id` lookups: the
event, the resends (to find the current round), and that round's attempts (`history`: every
round's, for the dashboard).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import Binary
from pymongo.database import Database

from common.adapters.mongo_connection import mongo_errors
from common.adapters.mongo_inserts import find_by_id, find_chain, insert_new
from common.domain.webhooks import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueAttempt,
    fair_run,
)

DELIVERIES = "webhook_deliveries"
RESENDS = "webhook_resends"
LEASES = "webhook_leases"
ATTEMPTS = "webhook_attempts"
DUE = "webhook_due"
_OLDEST_FIRST = [("dueAt", 1), ("webhookId", 1), ("round", 1)]  # as due_order


class MongoWebhookDeliveries:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._deliveries = db[DELIVERIES]
        self._resends = db[RESENDS]
        self._leases = db[LEASES]
        self._attempts = db[ATTEMPTS]
        self._due = db[DUE]

    # -- facts -------------------------------------------------------------------------

    def create_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """Insert new deliveries together; False for one that exists already."""
        taken = insert_new(self._deliveries, [_delivery_doc(d) for d in deliveries])
        return [i not in taken for i in range(len(deliveries))]

    def record_all(self, deliveries: Sequence[Delivery], *, indexed: bool) -> list[bool]:
        """Insert the results of the deliveries' last attempts together, then bring the
        due-index up to date for each (`indexed`: whether an entry for its round may exist).
        False, and nothing changed, where that attempt's result was recorded already."""
        taken = insert_new(self._attempts, [_attempt_doc(d) for d in deliveries])
        for i, d in enumerate(deliveries):
            if i not in taken and (indexed or d.status is DeliveryStatus.SCHEDULED):
                self.reproject(d)
        return [i not in taken for i in range(len(deliveries))]

    def reschedule(self, webhook_id: str, now: datetime) -> Delivery | None:
        """Resend: the same event (same webhook id and body) in a new round, due now. A
        concurrent resend of the same round is the same resend."""
        current = self.get(webhook_id)
        if current is None:
            return None
        k = current.round + 1
        insert_new(self._resends, [{"_id": f"{webhook_id}#{k}", "at": now}])
        entry = DueAttempt(webhook_id, k, 1, now, merchant_id=current.merchant_id)
        insert_new(self._due, [_due_doc(entry)])
        return self.get(webhook_id)

    # -- the due-index -----------------------------------------------------------------

    def schedule(self, delivery: Delivery, at: datetime) -> None:
        """Make the next attempt of the delivery's round due at `at` unless an entry for
        that round exists already."""
        insert_new(self._due, [_due_doc(delivery.next_due(at))])

    def due(self, now: datetime, limit: int, *, per_merchant: int) -> list[DueAttempt]:
        """Up to `limit` entries due now, fairly: at most `per_merchant` of one merchant's,
        merchants in turn, oldest due first (fair_run). An entry without merchantId (written
        before the due-index carried it) is one more merchant, capped and served in turn,
        until its next attempt reprojects it with the merchant's id.

        One query over the due entries only, streamed oldest first and kept up to
        `per_merchant` each. Not a limited find per merchant: FerretDB 1.24 (SQLite) pushes
        no filter, sort or limit down (its explain: SCAN, with or without an index on
        merchantId and dueAt), so every find reads the whole due-index, and 500 merchants
        with something due cost 500 such reads (measured: 82 s at 5,000 due, against 0.3 s
        for this one)."""
        with mongo_errors():
            due = self._due.find({"dueAt": {"$lte": now}}, {"_id": 0}).sort(_OLDEST_FIRST)
            return fair_run((_due_entry(d) for d in due), limit, per_merchant)

    def lease(
        self, entries: Sequence[DueAttempt], now: datetime, lease_s: float
    ) -> list[DueAttempt]:
        """Take the lease of each entry (one insert_many); the entries won, whose due time
        moves on by the lease so that later runs leave them alone while they are sent. A
        lease left by a sender that died is taken over once it is `lease_s` old."""
        docs = [{"_id": _lease_id(e), "leasedAt": now} for e in entries]
        taken = insert_new(self._leases, docs)
        until = now + timedelta(seconds=lease_s)
        with mongo_errors():
            for i, e in enumerate(entries):
                if i not in taken:
                    self._due.update_one({"_id": _due_id(e)}, {"$set": {"dueAt": until}})
                    continue
                held = self._leases.find_one({"_id": docs[i]["_id"]})
                if held is not None and held["leasedAt"] + timedelta(seconds=lease_s) <= now:
                    # its holder died before moving the entry on: a new due time, a new lease
                    self._due.update_one({"_id": _due_id(e)}, {"$set": {"dueAt": now}})
        return [e for i, e in enumerate(entries) if i not in taken]

    def reproject(self, delivery: Delivery) -> None:
        """Rebuild the due-index entry of the delivery's round from what is recorded."""
        _id = f"{delivery.webhook_id}#{delivery.round}"
        entry = delivery.pending_entry()
        with mongo_errors():
            if entry is not None:
                self._due.replace_one({"_id": _id}, _due_doc(entry), upsert=True)
            else:
                self._due.delete_one({"_id": _id})

    def drop(self, entry: DueAttempt) -> None:
        """Forget an entry of a round that a resend superseded."""
        with mongo_errors():
            self._due.delete_one({"_id": _due_id(entry)})

    # -- reads -------------------------------------------------------------------------

    def get(self, webhook_id: str) -> Delivery | None:
        """The delivery in its current round, as its recorded attempts leave it."""
        rounds = self._rounds(webhook_id, all_rounds=False)
        return rounds[-1] if rounds else None

    def history(self, webhook_id: str) -> list[Delivery]:
        """Every round of the delivery, the event's own first, then each resend's."""
        return self._rounds(webhook_id, all_rounds=True)

    def _rounds(self, webhook_id: str, *, all_rounds: bool) -> list[Delivery]:
        doc = find_by_id(self._deliveries, webhook_id)
        if doc is None:
            return []
        resends = find_chain(self._resends, webhook_id)
        starts = [doc["createdAt"], *(r["at"] for r in resends)]
        wanted = range(len(starts)) if all_rounds else [len(starts) - 1]
        return [
            _round(doc, k, starts[k], find_chain(self._attempts, f"{webhook_id}#{k}"))
            for k in wanted
        ]


def _round(
    doc: dict[str, Any], k: int, started: datetime, attempts: list[dict[str, Any]]
) -> Delivery:
    """Round k of the delivery `doc` (started at `started`) as its recorded attempts leave it."""
    status, next_at = DeliveryStatus.SCHEDULED, started
    if attempts:
        status, next_at = DeliveryStatus(attempts[-1]["outcome"]), attempts[-1]["nextAttemptAt"]
    return Delivery(
        webhook_id=doc["_id"],
        transaction_id=doc["transactionId"],
        merchant_id=doc["merchantId"],
        url=doc["url"],
        body=bytes(doc["body"]),
        status=status,
        next_attempt_at=next_at,
        created_at=doc["createdAt"],
        attempts=tuple(
            DeliveryAttempt(a["at"], a.get("statusCode"), a.get("error"), a["latencyMs"])
            for a in attempts
        ),
        round=k,
    )


def _delivery_doc(d: Delivery) -> dict[str, Any]:
    return {
        "_id": d.webhook_id,
        "transactionId": d.transaction_id,
        "merchantId": d.merchant_id,
        "url": d.url,
        "body": Binary(d.body),
        "createdAt": d.created_at,
    }


def _attempt_doc(d: Delivery) -> dict[str, Any]:
    last = d.attempts[-1]
    return {
        "_id": f"{d.webhook_id}#{d.round}#{len(d.attempts)}",
        "at": last.at,
        "statusCode": last.status_code,
        "error": last.error,
        "latencyMs": last.latency_ms,
        "outcome": d.status.value,
        "nextAttemptAt": d.next_attempt_at,
    }


def _due_id(e: DueAttempt) -> str:
    return f"{e.webhook_id}#{e.round}"


def _lease_id(e: DueAttempt) -> str:
    return f"{e.webhook_id}#{e.round}#{e.attempt}@{int(e.due_at.timestamp() * 1000)}"


def _due_doc(e: DueAttempt) -> dict[str, Any]:
    return {
        "_id": _due_id(e),
        "webhookId": e.webhook_id,
        "merchantId": e.merchant_id,
        "round": e.round,
        "attempt": e.attempt,
        "dueAt": e.due_at,
    }


def _due_entry(doc: dict[str, Any]) -> DueAttempt:
    return DueAttempt(
        doc["webhookId"],
        doc["round"],
        doc["attempt"],
        doc["dueAt"],
        merchant_id=doc.get("merchantId"),
    )
