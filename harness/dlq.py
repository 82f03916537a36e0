"""`python -m harness dlq list|show|redrive`: the dead letters, for an operator.

list                     every dead letter of payments.requested.dlq and payments.processed.dlq:
                         position, condition, state, transaction id, reason
show TOPIC/PARTITION/OFFSET   one dead letter: its headers and value (card data travels sealed)
redrive --pending        one run of the redrive function now (what the schedule does)
redrive POSITION...      send these back to their source topic whatever their condition (the
                         cause was fixed); a poison record that is still poison comes back

A dead letter's state: `waiting` (the redrive function will send it back once MongoDB and
Redis answer), `redriven`, `held` (sent back too often; look at it, then redrive it by hand),
`poison` (stays, with its reason).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from common.adapters.kafka_dead_letters import KafkaDeadLetterQueue
from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.config import RedriveSettings
from common.dead_letters import DeadLetter, Verdict
from functions.redrive.service import redrive_now
from harness.infra.settings import InfraSettings
from harness.lambda_runtime import function_spec, load_handler
from harness.local_env import function_env


def _settings(infra: InfraSettings) -> RedriveSettings:
    return RedriveSettings.model_validate(
        {k.lower(): v for k, v in function_env("RedriveFunction", infra).items()}
    )


@dataclass(frozen=True)
class Listed:
    letter: DeadLetter
    state: str


def dead_letters(infra: InfraSettings, limit: int = 10_000) -> list[Listed]:
    """Every dead letter with its state (what the status page and `dlq list` show)."""
    s = _settings(infra)
    queue = KafkaDeadLetterQueue(s.kafka_bootstrap_servers, s.dead_letter_topics)
    try:
        letters = queue.browse(limit)
        next_read = queue.committed()
    finally:
        queue.close()
    out = []
    for d in letters:
        verdict = d.verdict(s.source_topics, s.redrive_max_times)
        settled = d.offset < next_read.get((d.topic, d.partition), 0)
        if verdict is Verdict.REDRIVE:
            state = "redriven" if settled else "waiting"
        elif verdict is Verdict.HOLD:
            state = "held" if settled else "waiting"
        else:
            state = "poison"
        out.append(Listed(d, state))
    return out


def summary(infra: InfraSettings) -> dict[str, int]:
    """How many dead letters there are of each `topic · condition · state`."""
    return dict(
        Counter(f"{x.letter.topic} · {x.letter.condition} · {x.state}" for x in dead_letters(infra))
    )


def list_letters(infra: InfraSettings, as_json: bool) -> int:
    listed = dead_letters(infra)
    if as_json:
        rows = [_row(x) for x in listed]
        sys.stdout.write(json.dumps(rows) + "\n")
        return 0
    for x in listed:
        d = x.letter
        key = (d.key or b"").decode(errors="replace")
        sys.stdout.write(
            f"{d.position:<28} {d.condition:<24} {x.state:<9} {key:<36} {d.reason[:80]}\n"
        )
    if not listed:
        sys.stdout.write("no dead letters\n")
    return 0


def show(infra: InfraSettings, position: str) -> int:
    found = [x for x in dead_letters(infra) if x.letter.position == position]
    if not found:
        sys.stderr.write(f"error: no dead letter at {position} (topic/partition/offset)\n")
        return 1
    row = _row(found[0])
    row["headers"] = {n: v.decode(errors="replace") for n, v in found[0].letter.headers}
    row["value"] = found[0].letter.value.decode(errors="replace")
    sys.stdout.write(json.dumps(row, indent=2) + "\n")
    return 0


def redrive(infra: InfraSettings, positions: Sequence[str], pending: bool) -> int:
    if pending:  # the function itself, reading its settings from the environment
        os.environ.update(function_env("RedriveFunction", infra))
        handler = load_handler(function_spec("RedriveFunction").handler)
        sys.stdout.write(json.dumps(handler({"source": "aws.events"}, None)) + "\n")
        return 0
    outcome = redrive_positions(infra, positions)
    if outcome.unknown or not positions:
        sys.stderr.write(f"error: no dead letter with a source topic at {list(outcome.unknown)}\n")
        return 1
    for d in outcome.chosen:
        state = (
            "not acknowledged by Kafka" if d.position in outcome.unsent else f"→ {d.source_topic}"
        )
        sys.stdout.write(f"{d.position} {state}\n")
    return 1 if outcome.unsent else 0


@dataclass(frozen=True)
class Redriven:
    chosen: tuple[DeadLetter, ...] = ()
    """The dead letters sent back to their source topic (none when any position was unknown)."""
    unknown: tuple[str, ...] = ()
    """Positions with no dead letter, or one without a source topic."""
    unsent: frozenset[str] = frozenset()
    """Positions of those Kafka did not acknowledge."""


def redrive_positions(infra: InfraSettings, positions: Sequence[str]) -> Redriven:
    """Send the dead letters at these positions back to their source topic, whatever their
    condition (`dlq redrive POSITION...`, the dashboard's redrive button)."""
    by_position = {x.letter.position: x.letter for x in dead_letters(infra)}
    unknown = [p for p in positions if p not in by_position or not by_position[p].source_topic]
    if unknown or not positions:
        return Redriven(unknown=tuple(unknown))
    chosen = tuple(by_position[p] for p in positions)
    publisher = KafkaEventPublisher(_settings(infra).kafka_bootstrap_servers)
    try:
        unsent = redrive_now(chosen, publisher)
    finally:
        publisher.close()
    return Redriven(chosen, (), frozenset(unsent))


def _row(x: Listed) -> dict[str, object]:
    d = x.letter
    return {
        "position": d.position,
        "condition": d.condition,
        "state": x.state,
        "key": (d.key or b"").decode(errors="replace"),
        "source": d.source_topic,
        "redrives": d.redrives,
        "reason": d.reason,
    }
