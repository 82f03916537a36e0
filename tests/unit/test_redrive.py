"""The redrive function's decisions over fakes: what goes back, what stays, what waits."""

from __future__ import annotations

import pytest

from common.dead_letters import POISON, RETRIES_EXHAUSTED, DeadLetter, Verdict
from functions.redrive.service import RedrivePolicy, RedriveService, redrive_now
from tests.fakes import FakeDeadLetterQueue, FakePublisher

SOURCES = frozenset({"payments.requested", "payments.requested.retry", "payments.processed"})
DLQ = "payments.requested.dlq"


def headers(
    condition: str, source: str = "payments.requested/3/41", **more: str
) -> list[tuple[str, bytes]]:
    return [
        ("eventType", b"PaymentRequested"),
        ("dlq.condition", condition.encode()),
        ("dlq.reason", b"TransientError: mongodb (after 10 attempts)"),
        ("dlq.source", source.encode()),
        *((k, v.encode()) for k, v in more.items()),
    ]


def service(
    queue: FakeDeadLetterQueue, publisher: FakePublisher, up: dict[str, bool] | None = None
) -> RedriveService:
    answers = {name: (lambda ok=ok: ok) for name, ok in (up or {"mongodb": True}).items()}
    return RedriveService(
        queue=queue, publisher=publisher, answers=answers, policy=RedrivePolicy(SOURCES, 3)
    )


def test_exhausted_records_go_back_as_they_came_and_poison_stays() -> None:
    queue, publisher = FakeDeadLetterQueue(), FakePublisher()
    queue.add(DLQ, b"tx-1", b'{"a":1}', headers(RETRIES_EXHAUSTED))
    queue.add(DLQ, b"tx-2", b"not json", headers(POISON))
    queue.add(DLQ, b"tx-3", b'{"b":2}', headers(RETRIES_EXHAUSTED, "payments.requested.retry/0/7"))
    run = service(queue, publisher).run(100)
    assert (run.redriven, run.poison, run.held, run.unsent) == (2, 1, 0, 0)
    assert [(p.topic, p.key, p.value) for p in publisher.sent] == [
        ("payments.requested", b"tx-1", b'{"a":1}'),
        ("payments.requested.retry", b"tx-3", b'{"b":2}'),
    ]
    first = dict(publisher.sent[0].headers)
    assert first["eventType"] == b"PaymentRequested"
    assert first["redrive.count"] == b"1" and first["redrive.from"] == b"payments.requested.dlq/0/0"
    assert not any(name.startswith("dlq.") for name in first)
    assert queue.positions == {(DLQ, 0): 3}
    assert service(queue, publisher).run(100).redriven == 0  # nothing twice


def test_nothing_moves_while_a_dependency_is_down() -> None:
    queue, publisher = FakeDeadLetterQueue(), FakePublisher()
    queue.add(DLQ, b"tx-1", b"{}", headers(RETRIES_EXHAUSTED))
    run = service(queue, publisher, {"mongodb": False, "redis": True}).run(100)
    assert run.deferred == ["mongodb"] and publisher.sent == [] and queue.positions == {}
    assert service(queue, publisher, {"mongodb": True, "redis": True}).run(100).redriven == 1


def test_a_record_redriven_too_often_is_held_and_the_position_moves_on() -> None:
    queue, publisher = FakeDeadLetterQueue(), FakePublisher()
    queue.add(DLQ, b"tx-1", b"{}", headers(RETRIES_EXHAUSTED, **{"redrive.count": "3"}))
    queue.add(DLQ, b"tx-2", b"{}", headers(RETRIES_EXHAUSTED, **{"redrive.count": "2"}))
    run = service(queue, publisher).run(100)
    assert (run.redriven, run.held) == (1, 1)
    assert dict(publisher.sent[0].headers)["redrive.count"] == b"3"
    assert queue.positions == {(DLQ, 0): 2}


def test_an_unacknowledged_redrive_is_read_again_with_everything_after_it() -> None:
    queue, publisher = FakeDeadLetterQueue(), FakePublisher(down=True)
    queue.add(DLQ, b"tx-1", b"{}", headers(POISON))
    queue.add(DLQ, b"tx-2", b"{}", headers(RETRIES_EXHAUSTED))
    queue.add(DLQ, b"tx-3", b"{}", headers(POISON))
    run = service(queue, publisher).run(100)
    assert (run.poison, run.unsent, run.redriven) == (1, 1, 0)
    assert queue.positions == {(DLQ, 0): 1}
    publisher.down = False
    assert service(queue, publisher).run(100).redriven == 1
    assert queue.positions == {(DLQ, 0): 3}


@pytest.mark.parametrize(
    "source",
    ["elsewhere/0/1", "", "payments.requested.dlq/0/1", "webhooks.dlq/0/1"],
)
def test_only_the_functions_own_topics_are_destinations(source: str) -> None:
    letter = DeadLetter(DLQ, 0, 0, b"k", b"v", tuple(headers(RETRIES_EXHAUSTED, source)))
    assert letter.verdict(SOURCES, 3) is Verdict.KEEP


def test_an_operator_redrives_what_the_schedule_would_not() -> None:
    publisher = FakePublisher()
    held = DeadLetter(DLQ, 0, 5, b"k", b"v", tuple(headers(POISON, "payments.processed/1/2")))
    assert redrive_now([held], publisher) == []
    assert publisher.sent[0].topic == "payments.processed"
