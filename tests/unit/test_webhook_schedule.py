from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from common.domain.errors import PermanentError, TransientError
from common.domain.events import PaymentProcessed
from common.domain.payment import CardSummary
from common.domain.webhooks import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueAttempt,
    after_attempt,
    fair_run,
    webhook_id,
)
from common.inline_executor import InlineExecutor
from functions.notify.service import NotifyPolicy, NotifyService
from tests.fakes import FakePublisher, FakeSlowEndpoints, FakeWebhookDeliveries, FixedClock

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SCHEDULE = [5, 300, 1800]


def fresh() -> Delivery:
    return Delivery("evt_1", "tx", "m", "https://x", b"{}", DeliveryStatus.SCHEDULED, T0, T0)


def fail(at: datetime, code: int | None = 500) -> DeliveryAttempt:
    return DeliveryAttempt(at, code, None if code else "timeout", 3.0)


def test_the_id_is_stable_per_transaction() -> None:
    assert webhook_id("tx-1") == webhook_id("tx-1") != webhook_id("tx-2")
    assert webhook_id("tx-1").startswith("evt_")


def test_failures_follow_the_schedule_from_the_first_attempt_then_give_up() -> None:
    d = after_attempt(fresh(), fail(T0), SCHEDULE)
    assert d.status == "scheduled" and d.next_attempt_at == T0 + timedelta(seconds=5)
    d = after_attempt(d, fail(T0 + timedelta(seconds=6), None), SCHEDULE)
    assert d.next_attempt_at == T0 + timedelta(seconds=300)
    d = after_attempt(d, fail(T0 + timedelta(seconds=301), 429), SCHEDULE)
    assert d.next_attempt_at == T0 + timedelta(seconds=1800)
    d = after_attempt(d, fail(T0 + timedelta(seconds=1801), 503), SCHEDULE)
    assert d.status == "failed" and d.next_attempt_at is None and len(d.attempts) == 4


def test_any_2xx_delivers() -> None:
    d = after_attempt(fresh(), fail(T0), SCHEDULE)
    d = after_attempt(d, DeliveryAttempt(T0 + timedelta(seconds=5), 202, None, 1.0), SCHEDULE)
    assert d.status == "delivered" and d.next_attempt_at is None


def test_a_late_attempt_is_not_rescheduled_into_the_past() -> None:
    late = T0 + timedelta(hours=1)
    d = after_attempt(fresh(), fail(T0), SCHEDULE)
    d = after_attempt(d, fail(late), SCHEDULE)
    assert d.next_attempt_at == late  # due at T0+300 s, which has passed: now


def test_a_new_delivery_is_left_to_its_batch_before_the_scheduler_takes_it() -> None:
    store = FakeWebhookDeliveries()
    clock = FixedClock()
    service = NotifyService(
        deliveries=store,
        sender=None,
        slow=FakeSlowEndpoints(),
        secret_of=lambda _m: None,  # type: ignore[arg-type]
        resolve=lambda _h: ["93.184.216.34"],
        publisher=FakePublisher(),
        clock=clock,
        policy=NotifyPolicy([5], False, "webhooks.dlq", first_attempt_lease_s=30),
    )
    event = PaymentProcessed(
        event_id="e",
        occurred_at=T0,
        transaction_id="tx",
        merchant_id="m",
        status="succeeded",
        amount_minor=1,
        currency="EUR",
        webhook_url="https://shop.example/h",
        card=CardSummary(brand="visa", last4="4242", exp_month=1, exp_year=2030, fingerprint="f"),
        attempts=1,
        created_at=T0,
        processed_at=T0,
    )
    created = service.accept(event)
    assert created is not None and service.accept(event) is None  # one delivery per payment
    assert service.due() == []  # the batch that created it sends it first
    clock.at = clock.at + timedelta(seconds=31)
    assert [d.webhook_id for d in service.due()] == [webhook_id("tx")]


def service_with(store: FakeWebhookDeliveries, secret_of: object) -> NotifyService:
    return NotifyService(
        deliveries=store,
        sender=None,
        slow=FakeSlowEndpoints(),
        secret_of=secret_of,  # type: ignore[arg-type]
        resolve=lambda _h: ["93.184.216.34"],
        publisher=FakePublisher(),
        clock=FixedClock(),
        policy=NotifyPolicy([5], False, "webhooks.dlq", first_attempt_lease_s=30),
    )


def sample(currency: str = "EUR", tx: str = "tx") -> PaymentProcessed:
    return PaymentProcessed(
        event_id="e",
        occurred_at=T0,
        transaction_id=tx,
        merchant_id="m",
        status="succeeded",
        amount_minor=1,
        currency=currency,
        webhook_url="https://shop.example/h",
        card=CardSummary(brand="visa", last4="4242", exp_month=1, exp_year=2030, fingerprint="f"),
        attempts=1,
        created_at=T0,
        processed_at=T0,
    )


def test_a_schema_valid_but_impossible_event_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="unusable"):
        service_with(FakeWebhookDeliveries(), lambda _m: None).accept(sample(currency="ZZZ"))


def test_an_attempt_that_cannot_even_start_is_recorded_not_raised() -> None:
    def down(_merchant: str) -> str:
        raise TransientError("redis", "ConnectionError")

    store = FakeWebhookDeliveries()
    service = service_with(store, down)
    created = service.accept(sample())
    assert created is not None
    after = service.deliver(created)
    assert after.status is DeliveryStatus.SCHEDULED
    assert after.attempts[0].error == "not attempted: redis unavailable: ConnectionError"


class ScriptedSender:
    """Answers each URL as told: a status code, or None for a timeout."""

    def __init__(self, answers: dict[str, int | None]) -> None:
        self.answers = answers
        self.sent: list[str] = []

    def send(
        self, url: str, addresses: Sequence[str], body: bytes, headers: dict[str, str]
    ) -> DeliveryAttempt:
        self.sent.append(url)
        code = self.answers[url]
        return DeliveryAttempt(T0, code, None if code else "timeout", 1.0)


def routing_service(
    store: FakeWebhookDeliveries,
    sender: ScriptedSender,
    slow: FakeSlowEndpoints,
    clock: FixedClock | None = None,
    retries_per_merchant: int = 10,
) -> NotifyService:
    return NotifyService(
        deliveries=store,
        sender=sender,
        slow=slow,
        secret_of=lambda _m: "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        resolve=lambda _h: ["93.184.216.34"],
        publisher=FakePublisher(),
        clock=clock or FixedClock(),
        policy=NotifyPolicy(
            [5],
            False,
            "webhooks.dlq",
            first_attempt_lease_s=30,
            retries_per_merchant=retries_per_merchant,
        ),
    )


def for_merchant(merchant: str, tx: str) -> PaymentProcessed:
    return sample(tx=tx).model_copy(
        update={"merchant_id": merchant, "webhook_url": f"https://{merchant}.example/h"}
    )


def test_a_timeout_marks_the_merchant_slow_and_its_next_webhooks_go_to_the_schedule() -> None:
    store, slow = FakeWebhookDeliveries(), FakeSlowEndpoints()
    sender = ScriptedSender({"https://hangs.example/h": None, "https://fine.example/h": 204})
    service = routing_service(store, sender, slow)
    first = service.accept(for_merchant("hangs", "tx-1"))
    assert first is not None and service.deliver(first).attempts[0].error == "timeout"
    assert service.slow_merchants(["hangs", "fine"]) == {"hangs"}
    # the next one is recorded, not handed to the batch, and due at once for the schedule
    assert service.accept(for_merchant("hangs", "tx-2"), send_now=False) is None
    assert service.accept(for_merchant("fine", "tx-3")) is not None
    assert [d.transaction_id for d in service.due()] == ["tx-2"]


def test_a_scheduled_success_lifts_the_mark_and_a_batch_success_does_not_need_to() -> None:
    store, slow = FakeWebhookDeliveries(), FakeSlowEndpoints()
    sender = ScriptedSender({"https://back.example/h": 200})
    service = routing_service(store, sender, slow)
    slow.mark_slow("back")
    assert service.accept(for_merchant("back", "tx-1"), send_now=False) is None
    due = service.due()
    assert [d.transaction_id for d in due] == ["tx-1"]
    assert service.deliver(due[0], scheduled=True).status is DeliveryStatus.DELIVERED
    assert service.slow_merchants(["back"]) == set()


def test_a_scheduled_run_behind_a_hanging_merchant_still_delivers_the_others() -> None:
    store, slow, clock = FakeWebhookDeliveries(), FakeSlowEndpoints(), FixedClock()
    fine = [f"fine{i}" for i in range(3)]
    sender = ScriptedSender(
        {"https://hangs.example/h": None, **{f"https://{m}.example/h": 204 for m in fine}}
    )
    service = routing_service(store, sender, slow, clock, retries_per_merchant=4)
    slow.mark_slow("hangs")
    for i in range(50):  # piled up behind the hanging endpoint, older than anyone else's
        service.accept(for_merchant("hangs", f"tx-h{i}"), send_now=False)
        clock.at += timedelta(seconds=1)
    for m in fine:
        slow.mark_slow(m)  # sent by the schedule, not the batch
        service.accept(for_merchant(m, f"tx-{m}"), send_now=False)
    clock.at += timedelta(seconds=1)
    # oldest first alone would send 20 of the hanging merchant's and none of the others'
    assert service.deliver_due(InlineExecutor(), limit=20) == (7, 3)
    assert sender.sent.count("https://hangs.example/h") == 4
    assert {m for m in fine if f"https://{m}.example/h" in sender.sent} == set(fine)
    assert service.slow_merchants(["hangs", *fine]) == {"hangs"}


def test_a_fair_run_caps_each_merchant_and_takes_a_turn_of_each_oldest_first() -> None:
    def entry(wid: str, s: int) -> DueAttempt:
        return DueAttempt(wid, 0, 1, T0 + timedelta(seconds=s), merchant_id=wid[0])

    a = [entry(f"a{i}", i) for i in range(1, 6)]
    b = [entry("b1", 9), entry("b2", 10)]
    c = [entry("c1", 5)]
    due = sorted([*a, *b, *c], key=lambda e: e.due_at)
    run = fair_run(due, 6, per_merchant=3)
    assert [e.webhook_id for e in run] == ["a1", "c1", "b1", "a2", "b2", "a3"]
    assert [e.webhook_id for e in fair_run(due, 10, per_merchant=3)][-1] == "a3"  # capped
    assert [e.webhook_id for e in fair_run(due, 2, per_merchant=3)] == ["a1", "c1"]
    assert fair_run(due, 0, per_merchant=3) == [] and fair_run([], 5, per_merchant=3) == []
