"""One Kafka batch: parse each record, process the payments concurrently, report failures.

- A record that cannot be parsed or breaks the event schema is dead-lettered with the reason
  and never retried; the rest of the batch goes on.
- A payment that could not be finished (a dependency down, no bank decision yet within this
  invocation) is reported in `batchItemFailures`, so the event source mapping redelivers it
  and everything after it on its partition; nothing is committed past unfinished work.
- The same transaction twice in one batch (a redelivery) is processed once.
- A record from the retry topic says when it is due (header `retryDueAt`): the batch waits
  for it. A delay topic's records arrive in due order and wait only on each other, so this
  holds up no payment of the main topic; one not due before the invocation ends is handed
  back unprocessed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from common.dead_letters import set_aside_poison
from common.domain.errors import PermanentError, TransientError
from common.domain.events import PaymentRequested, parse_event
from common.domain.ports import EventPublisher
from common.lambda_kafka import KafkaRecord, batch_item_failures, parse_kafka_event
from functions.process.service import RETRY_DUE_HEADER, ProcessService, Result

log = logging.getLogger("paygate.process")


def handle_batch(
    event: Any,
    *,
    service: ProcessService,
    executor: Executor,
    dead_letters: EventPublisher,
    dead_letter_topic: str,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, list[dict[str, dict[str, Any]]]]:
    firsts: dict[str, tuple[KafkaRecord, PaymentRequested]] = {}
    duplicates: list[tuple[KafkaRecord, str]] = []
    failed: list[KafkaRecord] = []
    records = list(parse_kafka_event(event).all_records())
    records, not_due = _wait_until_due(records, deadline, sleep)
    failed += not_due
    for record in records:
        try:
            request = parse_event(PaymentRequested, record.value_bytes())
        except PermanentError as exc:
            if not set_aside_poison(
                dead_letters, dead_letter_topic, record, str(exc), "ProcessFunction"
            ):
                failed.append(record)  # Kafka refused it: hand it back, retry later
            continue
        if request.transaction_id in firsts:
            duplicates.append((record, request.transaction_id))
            continue
        firsts[request.transaction_id] = (record, request)

    pending = list(firsts.values())
    try:
        # the requests topic waits a bounded time for the bank; the retry topic waits out
        # its attempts (it holds up only payments that are already waiting)
        patient = any(rec.header(RETRY_DUE_HEADER) is not None for rec, _r in pending)
        results = service.process_all(
            [r for _rec, r in pending], deadline, executor, patient=patient
        )
    except TransientError as exc:  # the ledger did not answer: nothing of the batch is done
        log.warning("batch not processed, will be redelivered", extra={"reason": str(exc)})
        results = [exc] * len(pending)
    failed_tx: set[str] = set()
    for (record, request), result in zip(pending, results, strict=True):
        tx = request.transaction_id
        if result in (Result.DONE, Result.PARKED):
            continue
        if isinstance(result, TransientError):
            log.warning(
                "payment not finished, will be redelivered",
                extra={"transactionId": tx, "reason": str(result)},
            )
        elif isinstance(result, Exception):
            log.error(
                "unexpected error processing a payment",
                extra={"transactionId": tx, "reason": repr(result)},
            )
        failed.append(record)
        failed_tx.add(tx)
    failed += [record for record, tx in duplicates if tx in failed_tx]
    return batch_item_failures(failed)


def _due_s(record: KafkaRecord) -> float:
    """When a retry-topic record is due (time.time() seconds); 0 for any other record. A due
    time that cannot be read counts as due now: the payment is processed, never lost."""
    raw = record.header(RETRY_DUE_HEADER)
    if raw is None:
        return 0.0
    try:
        return int(raw) / 1000
    except ValueError:
        return 0.0


def _wait_until_due(
    records: list[KafkaRecord], deadline: float, sleep: Callable[[float], None]
) -> tuple[list[KafkaRecord], list[KafkaRecord]]:
    """Wait until the records are due; (due ones, ones not due before `deadline` and what
    follows them on their partition)."""
    latest_ok = time.time() + (deadline - time.monotonic())
    late_from: dict[tuple[str, int], int] = {}
    for r in records:
        if _due_s(r) > latest_ok and (r.topic, r.partition) not in late_from:
            late_from[(r.topic, r.partition)] = r.offset
    due: list[KafkaRecord] = []
    late: list[KafkaRecord] = []
    for r in records:
        start = late_from.get((r.topic, r.partition))
        (late if start is not None and r.offset >= start else due).append(r)
    wait = max((_due_s(r) for r in due), default=0.0) - time.time()
    if wait > 0:
        sleep(wait)
    return due, late
