"""redrive_dead_letters: nothing accepted is stranded (DESIGN.md §2.9).

A record whose retries ran out while a dependency was down (MongoDB stopped for longer than
the event source mapping's 10 retries last, a cold start that met Redis or Secrets Manager
down) sits on a dead-letter topic, and its payment would wait for ever. Every scheduled run:

1. asks each dependency the consumers need whether it answers; if one does not, nothing is
   redriven (the records would only run out of retries again) and the run says which;
2. reads up to `limit` dead letters from where the last run stopped;
3. sends those whose retries ran out back to their source topic (the handlers are idempotent:
   a payment decided meanwhile is a replay, never a second charge or a second webhook event),
   leaves poison records where they are, and holds a record redriven `max_redrives` times
   already (something other than an outage is wrong with it: `harness dlq` shows it);
4. moves its position past what it settled, and only after Kafka acknowledged every record it
   sent: a run that dies half-way sends some records twice, which is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from common.dead_letters import DeadLetter, Verdict
from common.domain.ports import EventPublisher

log = logging.getLogger("paygate.redrive")


class DeadLetterQueue(Protocol):
    """Dead-letter topics read from a committed position (common/adapters/kafka_dead_letters.py)."""

    def pending(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` dead letters after the committed position, in order per partition."""
        ...

    def settle(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Commit (topic, partition) → the next offset to read."""
        ...


@dataclass(frozen=True)
class RedrivePolicy:
    sources: frozenset[str]
    """The topics a record may be sent back to (the ones the functions consume)."""
    max_redrives: int = 10


@dataclass
class RedriveRun:
    deferred: list[str] = field(default_factory=list)
    """The dependencies that did not answer (nothing was redriven)."""
    redriven: int = 0
    poison: int = 0
    held: int = 0
    unsent: int = 0
    """Redrives Kafka did not acknowledge: read again by the next run."""

    def summary(self) -> dict[str, object]:
        return {
            "deferred": self.deferred,
            "redriven": self.redriven,
            "poison": self.poison,
            "held": self.held,
            "unsent": self.unsent,
        }


class RedriveService:
    def __init__(
        self,
        *,
        queue: DeadLetterQueue,
        publisher: EventPublisher,
        answers: Mapping[str, Callable[[], bool]],
        policy: RedrivePolicy,
    ) -> None:
        self._queue = queue
        self._publisher = publisher
        self._answers = answers
        self._policy = policy

    def run(self, limit: int) -> RedriveRun:
        out = RedriveRun(deferred=[name for name, ok in self._answers.items() if not ok()])
        if out.deferred:
            log.warning("redrive deferred: dependencies down", extra={"down": out.deferred})
            return out
        letters = self._queue.pending(limit)
        verdicts = [d.verdict(self._policy.sources, self._policy.max_redrives) for d in letters]
        to_send = [d for d, v in zip(letters, verdicts, strict=True) if v is Verdict.REDRIVE]
        errors = self._publisher.publish_all([d.redriven() for d in to_send])
        unsent = {d.position for d, e in zip(to_send, errors, strict=True) if e is not None}
        positions: dict[tuple[str, int], int] = {}
        blocked: set[tuple[str, int]] = set()  # a partition stops at its first unsent record
        for d, verdict in zip(letters, verdicts, strict=True):
            tp = (d.topic, d.partition)
            if tp in blocked or d.position in unsent:
                blocked.add(tp)
                out.unsent += d.position in unsent
                continue
            positions[tp] = d.offset + 1
            self._count(out, d, verdict)
        self._queue.settle(positions)
        if letters:
            log.info("redrive run", extra=out.summary())
        return out

    @staticmethod
    def _count(out: RedriveRun, d: DeadLetter, verdict: Verdict) -> None:
        extra = {"deadLetter": d.position, "source": d.source_topic, "redrives": d.redrives}
        if verdict is Verdict.REDRIVE:
            out.redriven += 1
            log.info("dead letter redriven", extra=extra)
        elif verdict is Verdict.HOLD:
            out.held += 1
            log.error("dead letter held: redriven too often", extra={**extra, "why": d.reason})
        else:
            out.poison += 1


def redrive_now(letters: Sequence[DeadLetter], publisher: EventPublisher) -> list[str]:
    """An operator's redrive of chosen dead letters, whatever their condition (the cause was
    fixed): each goes back to its source topic; the positions Kafka did not acknowledge."""
    errors = publisher.publish_all([d.redriven() for d in letters])
    return [d.position for d, e in zip(letters, errors, strict=True) if e is not None]
