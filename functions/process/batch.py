"""One Kafka batch: parse each record, process the payments concurrently, report failures.

- A record that cannot be parsed or breaks the event schema is dead-lettered with the reason
  and never retried; the rest of the batch goes on.
- A payment that could not be finished (a dependency down, no bank decision yet within this
  invocation) is reported in `batchItemFailures`, so the event source mapping redelivers it
  and everything after it on its partition; nothing is committed past unfinished work.
- The same transaction twice in one batch (a redelivery) is processed once.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any

from common.dead_letters import set_aside_poison
from common.domain.errors import PermanentError, TransientError
from common.domain.events import PaymentRequested, parse_event
from common.domain.ports import EventPublisher
from common.lambda_kafka import KafkaRecord, batch_item_failures, parse_kafka_event
from functions.process.service import ProcessService, Result

log = logging.getLogger("paygate.process")


def handle_batch(
    event: Any,
    *,
    service: ProcessService,
    executor: Executor,
    dead_letters: EventPublisher,
    dead_letter_topic: str,
    deadline: float,
) -> dict[str, list[dict[str, dict[str, Any]]]]:
    firsts: dict[str, tuple[KafkaRecord, PaymentRequested]] = {}
    duplicates: list[tuple[KafkaRecord, str]] = []
    failed: list[KafkaRecord] = []
    for record in parse_kafka_event(event).all_records():
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
        results = service.process_all([r for _rec, r in pending], deadline, executor)
    except TransientError as exc:  # the ledger did not answer: nothing of the batch is done
        log.warning("batch not processed, will be redelivered", extra={"reason": str(exc)})
        results = [exc] * len(pending)
    failed_tx: set[str] = set()
    for (record, request), result in zip(pending, results, strict=True):
        tx = request.transaction_id
        if result is Result.DONE:
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
