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
from concurrent.futures import Executor, Future
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
    futures: dict[str, tuple[KafkaRecord, Future[Result]]] = {}
    duplicates: list[tuple[KafkaRecord, str]] = []
    not_dead_lettered: list[KafkaRecord] = []
    for record in parse_kafka_event(event).all_records():
        try:
            request = parse_event(PaymentRequested, record.value_bytes())
        except PermanentError as exc:
            if not set_aside_poison(
                dead_letters, dead_letter_topic, record, str(exc), "ProcessFunction"
            ):
                not_dead_lettered.append(record)  # Kafka refused it: hand it back, retry later
            continue
        if request.transaction_id in futures:
            duplicates.append((record, request.transaction_id))
            continue
        futures[request.transaction_id] = (
            record,
            executor.submit(service.process, request, deadline),
        )

    failed: list[KafkaRecord] = list(not_dead_lettered)
    for tx, (record, future) in futures.items():
        try:
            if future.result() is Result.RETRY_LATER:
                failed.append(record)
        except TransientError as exc:
            log.warning(
                "payment not finished, will be redelivered",
                extra={"transactionId": tx, "reason": str(exc)},
            )
            failed.append(record)
        except Exception:
            log.exception("unexpected error processing a payment", extra={"transactionId": tx})
            failed.append(record)
    failed_tx = {tx for tx, (rec, _f) in futures.items() if rec in failed}
    failed += [record for record, tx in duplicates if tx in failed_tx]
    return batch_item_failures(failed)
