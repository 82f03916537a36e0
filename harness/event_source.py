"""Local twin of Lambda's event source mapping for self-managed Kafka / MSK.

Configuration comes from the function's Kafka event in template.yaml (topic, consumer group,
BatchSize, MaximumBatchingWindowInSeconds, StartingPosition, MaximumRetryAttempts,
FunctionResponseTypes, DestinationConfig.OnFailure). Each worker process is one poller: it
imports the handler once, polls a batch, hands it over in Lambda's event shape, and:

- commits offsets only after the handler returned, and only past finished records: with
  ReportBatchItemFailures the lowest failed offset of a partition is where it restarts;
- retries what failed with exponential backoff, at most MaximumRetryAttempts times (-1: for
  ever), then sends those records to the on-failure destination (a Kafka topic: the records
  themselves with `dlq.*` headers saying why) and moves the partition on;
- never has two batches of one partition in flight (one batch at a time per worker, and a
  partition belongs to one worker of the group).

A function may have several Kafka events (ProcessFunction: its requests topic and its retry
topic); each is its own mapping with its own consumer group and pollers, as on AWS.
`run_workers(function, n)` keeps n such processes running per mapping (at most the event's
ProvisionedPollerConfig.MaximumPollers; a killed one is restarted), the way Lambda scales
pollers across partitions.

Not emulated: the 6 MB payload cap, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError,
killing a handler that overruns the function timeout.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.dead_letters import RETRIES_EXHAUSTED, dead_letter
from common.lambda_kafka import KafkaRecord, encode_event, encode_record
from common.structured_logging import configure_logging
from harness.infra.settings import InfraSettings
from harness.lambda_runtime import LambdaContext, function_spec, load_handler
from harness.local_env import function_env
from harness.orphans import die_with_parent
from harness.template import TemplateError, project_template

log = logging.getLogger("paygate.event_source")

_KAFKA_EVENTS = ("SelfManagedKafka", "MSK")
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class MappingSpec:
    function: str
    topic: str
    group: str
    batch_size: int
    window_s: float
    starting_position: str
    max_retries: int
    report_item_failures: bool
    on_failure_topic: str | None
    event: str = ""
    """The event's name in template.yaml."""
    max_pollers: int = 1_000


def mapping_spec(
    function: str, overrides: dict[str, str] | None = None, event: str | None = None
) -> MappingSpec:
    """One of the function's Kafka events in template.yaml, resolved: the one named, or the
    first one."""
    specs = mapping_specs(function, overrides)
    for spec in specs:
        if event is None or spec.event == event:
            return spec
    raise TemplateError(f"{function} has no Kafka event {event!r}")


def mapping_specs(function: str, overrides: dict[str, str] | None = None) -> list[MappingSpec]:
    """Every Kafka event of the function in template.yaml, resolved, in template order."""
    t = project_template()
    props = t.functions().get(function)
    if props is None:
        raise TemplateError(f"no function {function!r} in template.yaml")
    events = {
        name: e for name, e in (props.get("Events") or {}).items() if e.get("Type") in _KAFKA_EVENTS
    }
    if not events:
        raise TemplateError(f"{function} has no Kafka event")
    return [_spec(t, function, name, e, overrides) for name, e in events.items()]


def _spec(
    t: Any, function: str, name: str, e: dict[str, Any], overrides: dict[str, str] | None
) -> MappingSpec:
    p = e.get("Properties") or {}
    destination = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    destination = t.resolve(destination, overrides) if destination is not None else None
    if destination is not None and not str(destination).startswith("kafka://"):
        raise TemplateError(f"{function}: only kafka:// on-failure destinations run locally")
    topics = t.resolve(p.get("Topics") or [], overrides)
    if len(topics) != 1:
        raise TemplateError(f"{function}: a Kafka event has exactly one topic")
    pollers = (p.get("ProvisionedPollerConfig") or {}).get("MaximumPollers", 1_000)
    return MappingSpec(
        function=function,
        event=name,
        topic=str(topics[0]),
        group=str(t.resolve(p.get("ConsumerGroupId") or f"{function}-mapping", overrides)),
        batch_size=int(p.get("BatchSize", 100)),
        window_s=float(p.get("MaximumBatchingWindowInSeconds", 0.5)),
        starting_position=str(p.get("StartingPosition", "LATEST")),
        max_retries=int(p.get("MaximumRetryAttempts", -1)),
        report_item_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
        on_failure_topic=str(destination).removeprefix("kafka://") if destination else None,
        max_pollers=int(pollers),
    )


def backoff_s(attempt: int) -> float:
    return float(min(MAX_BACKOFF_S, 0.5 * 2 ** (attempt - 1)))


class Poller:
    """One poller: a consumer of the mapping's group plus the function it invokes."""

    def __init__(
        self,
        spec: MappingSpec,
        bootstrap: str,
        handler: Callable[[Any, Any], Any],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec
        self._bootstrap = bootstrap
        self._handler = handler
        self._function = function_spec(spec.function)
        self._sleep = sleep
        self._dlq = KafkaEventPublisher(bootstrap)
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": spec.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest"
                if spec.starting_position == "TRIM_HORIZON"
                else "latest",
                "max.poll.interval.ms": 900_000,
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 2_000,
                "partition.assignment.strategy": "cooperative-sticky",
                # The broker holds a fetch up to 250 ms to fill it, so a poller gets fewer,
                # fuller batches (fewer fetches, invocations and commits). Measured with
                # `python -m bench --only cpu` (40 payments/s for 25 s), CPU per payment:
                # default (no wait) → 100 ms: Kafka 5.9 → 4.4 ms, whole system 20.5 → 18.1;
                # 100 → 250 ms: process workers 2.8 → 2.4 ms, Kafka unchanged; at most 250 ms
                # more per stage. Lambda's own pollers also fetch, not record by record.
                "fetch.wait.max.ms": 250,
                "fetch.min.bytes": 65536,
            },
            logger=log,
        )
        self._consumer.subscribe([spec.topic])

    def run(self, should_stop: Callable[[], bool]) -> None:
        try:
            while not should_stop():
                batch = self.next_batch()
                if batch:
                    self.deliver(batch)
        finally:
            self._consumer.close()
            self._dlq.close(5)

    def next_batch(self, first_wait_s: float = 1.0) -> list[KafkaRecord]:
        first = self._consumer.poll(first_wait_s)
        if first is None:
            return []
        more = self._consumer.consume(self.spec.batch_size - 1, timeout=self.spec.window_s)
        batch = [_to_record(m) for m in [first, *more] if self._usable(m)]
        return sorted(batch, key=lambda r: (r.partition, r.offset))

    def _usable(self, message: Message) -> bool:
        err = message.error()
        if err is None:
            return True
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error", extra={"reason": err.str()})
        return False

    def deliver(self, batch: Sequence[KafkaRecord]) -> None:
        pending = list(batch)
        attempt = 0
        while pending:
            failures, reason = self._invoke(pending)
            finished = [m for m in pending if not _at_or_after(m, failures)]
            self._commit(finished)
            pending = [m for m in pending if _at_or_after(m, failures)]
            if not pending:
                return
            attempt += 1
            if 0 <= self.spec.max_retries < attempt:
                self._give_up(pending, reason, attempt)
                return
            log.warning(
                "batch failed, retrying",
                extra={
                    "function": self.spec.function,
                    "attempt": attempt,
                    "records": len(pending),
                    "reason": reason,
                },
            )
            self._sleep(backoff_s(attempt))

    def _invoke(self, pending: Sequence[KafkaRecord]) -> tuple[dict[tuple[str, int], int], str]:
        """Invoke once; return {(topic, partition): first offset to redo} and why."""
        event = encode_event([r.model_dump() for r in pending], self._bootstrap)
        context = LambdaContext(self._function, time.monotonic() + self._function.timeout_s)
        everything = _first_offsets(pending)
        try:
            result = self._handler(event, context)
        except Exception as exc:
            return everything, f"function error: {type(exc).__name__}: {exc}"[:500]
        if not self.spec.report_item_failures:
            return {}, ""
        try:
            return _item_failures(result, pending), "reported batch item failures"
        except ValueError as exc:
            return everything, f"malformed batchItemFailures: {exc}"

    def _commit(self, finished: Sequence[KafkaRecord]) -> None:
        if not finished:
            return
        last: dict[tuple[str, int], int] = {}
        for r in finished:
            key = (r.topic, r.partition)
            last[key] = max(last.get(key, -1), r.offset)
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:  # e.g. the partition moved to another poller: it redelivers
            log.warning("commit failed", extra={"reason": str(exc)})

    def _give_up(self, pending: Sequence[KafkaRecord], reason: str, attempts: int) -> None:
        if self.spec.on_failure_topic:
            for record in pending:
                dead_letter(
                    self._dlq,
                    self.spec.on_failure_topic,
                    record,
                    reason=f"{reason} (after {attempts} attempts)",
                    condition=RETRIES_EXHAUSTED,
                    function=self.spec.function,
                )
        log.error(
            "retries exhausted, records sent to the on-failure destination",
            extra={
                "function": self.spec.function,
                "records": len(pending),
                "destination": self.spec.on_failure_topic,
                "reason": reason,
            },
        )
        self._commit(pending)


def _to_record(m: Message) -> KafkaRecord:
    kind, ts = m.timestamp()
    key, value = m.key(), m.value()
    return KafkaRecord.model_validate(
        encode_record(
            topic=str(m.topic()),
            partition=int(m.partition() or 0),
            offset=int(m.offset() or 0),
            timestamp_ms=ts,
            key=key.encode() if isinstance(key, str) else key,
            value=value.encode() if isinstance(value, str) else value,
            headers=_headers(m),
            log_append_time=kind == 2,
        )
    )


def _headers(m: Message) -> list[tuple[str, bytes]]:
    out = []
    for header in m.headers() or []:
        name, value = header[0], header[1]
        out.append((str(name), value.encode() if isinstance(value, str) else (value or b"")))
    return out


def _first_offsets(pending: Sequence[KafkaRecord]) -> dict[tuple[str, int], int]:
    first: dict[tuple[str, int], int] = {}
    for r in pending:
        key = (r.topic, r.partition)
        first[key] = min(first.get(key, r.offset), r.offset)
    return first


def _at_or_after(r: KafkaRecord, failures: dict[tuple[str, int], int]) -> bool:
    start = failures.get((r.topic, r.partition))
    return start is not None and r.offset >= start


def _item_failures(result: Any, pending: Sequence[KafkaRecord]) -> dict[tuple[str, int], int]:
    """Lowest failed offset per partition; ValueError for a malformed response."""
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise ValueError("the response is not an object")
    items = result.get("batchItemFailures") or []
    if not isinstance(items, list):
        raise ValueError("batchItemFailures is not a list")
    known = {(f"{r.topic}-{r.partition}", r.offset): (r.topic, r.partition) for r in pending}
    lowest: dict[tuple[str, int], int] = {}
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, dict):
            raise ValueError("an item has no itemIdentifier")
        partition, offset = ident.get("partition"), ident.get("offset")
        if not isinstance(partition, str) or not isinstance(offset, int):
            raise ValueError(f"malformed item {ident!r}")
        tp = known.get((partition, offset))
        if tp is None:
            raise ValueError(f"unknown item {partition}@{offset}")
        lowest[tp] = min(lowest.get(tp, offset), offset)
    return lowest


# -- processes -------------------------------------------------------------------------


def worker_main(function: str, event: str, infra: InfraSettings, index: int, parent: int) -> None:
    """One poller process: the function's environment, its handler, until SIGTERM or until
    its supervisor is gone (an orphaned poller would keep consuming)."""
    die_with_parent(parent)
    os.environ.update(function_env(function, infra))
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    stopping = False

    def stop(_sig: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    spec = mapping_spec(function, event=event)
    handler = load_handler(function_spec(function).handler)
    log.info("poller started", extra={"function": function, "worker": index, "topic": spec.topic})
    Poller(spec, infra.kafka_bootstrap, handler).run(lambda: stopping or os.getppid() != parent)


def run_workers(function: str, workers: int, infra: InfraSettings) -> None:
    """Keep `workers` pollers per mapping running until SIGTERM/SIGINT; restart any that
    dies."""
    slots = [  # fails fast on a bad template, before starting anything
        (spec.event, i)
        for spec in mapping_specs(function)
        for i in range(min(workers, spec.max_pollers))
    ]
    ctx = multiprocessing.get_context("spawn")
    procs: dict[tuple[str, int], multiprocessing.process.BaseProcess] = {}
    stopping = False

    def stop(_sig: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for event, i in slots:
            proc = procs.get((event, i))
            if proc is None or not proc.is_alive():
                if proc is not None:
                    log.warning(
                        "poller died, restarting",
                        extra={"event": event, "worker": i, "exitcode": proc.exitcode},
                    )
                proc = ctx.Process(
                    target=worker_main,
                    args=(function, event, infra, i, os.getpid()),
                    daemon=False,
                )
                procs[(event, i)] = proc
                proc.start()
        time.sleep(0.5)
    for proc in procs.values():
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
