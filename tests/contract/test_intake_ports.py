"""The same behaviour from each fake (tests/fakes.py) and its real adapter on real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import redis

from common.adapters.merchant_registry import MerchantRegistry
from common.adapters.mongo_webhook_deliveries import DUE, MongoWebhookDeliveries
from common.adapters.redis_connection import LoopRedis
from common.adapters.redis_intake_records import RedisIntakeRecords
from common.adapters.redis_pending_payments import RedisPendingPayments
from common.adapters.redis_slow_endpoints import RedisSlowEndpoints
from common.domain.payment import CardSummary, PaymentRecord, PaymentStatus
from common.domain.ports import (
    IdempotencyBegun,
    IdempotencyInFlight,
    IdempotencyMismatch,
    IdempotencyReplay,
    IntakeRecords,
    Merchant,
    PendingPayments,
    StoredResponse,
)
from common.domain.webhooks import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueAttempt,
    after_attempt,
)
from common.security.sealed_box import SealedBox
from tests.fakes import (
    FakeIntakeRecords,
    FakeMerchantDirectory,
    FakeSlowEndpoints,
    FakeWebhookDeliveries,
)
from tests.own_loop import run

real = pytest.mark.integration
T = TypeVar("T")


@pytest.fixture(params=["fake", pytest.param("redis", marks=real)])
def records(request: pytest.FixtureRequest) -> tuple[IntakeRecords, PendingPayments]:
    if request.param == "fake":
        fake = FakeIntakeRecords()
        return fake, fake
    infra = request.getfixturevalue("infra")
    return (
        RedisIntakeRecords(LoopRedis(infra.redis_url)),
        RedisPendingPayments(request.getfixturevalue("redis_client")),
    )


def unique() -> str:
    return uuid.uuid4().hex


def record(tx: str) -> PaymentRecord:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    return PaymentRecord(
        transaction_id=tx,
        merchant_id="mer_a",
        status=PaymentStatus.PENDING,
        amount_minor=4999,
        currency="EUR",
        reference="r",
        metadata={"a": "b"},
        card=CardSummary(
            brand="visa", last4="4242", exp_month=12, exp_year=2030, fingerprint="fp_x"
        ),
        created_at=now,
        updated_at=now,
    )


def test_begin_replay_mismatch_in_flight(
    records: tuple[IntakeRecords, PendingPayments],
) -> None:
    intake, pending = records
    merchant, key, tx = f"mer_{unique()}", "order-1", unique()
    response = StoredResponse(202, b'{"transactionId":"t"}', "/api/payments/t")

    async def steps() -> list[Any]:
        return [
            await intake.peek(merchant, key, "h1"),
            await intake.begin(merchant, key, "h1", record(tx)),
            await intake.begin(merchant, key, "h1", record(unique())),
            await intake.begin(merchant, key, "h2", record(unique())),
            await intake.peek(merchant, key, "h1"),
            await intake.complete(merchant, key, "h1", response),
            await intake.begin(merchant, key, "h1", record(unique())),
            await intake.begin(merchant, key, "h2", record(unique())),
            await intake.peek(merchant, key, "h1"),
        ]

    assert run(steps()) == [
        None,
        IdempotencyBegun(),
        IdempotencyInFlight(),
        IdempotencyMismatch(),
        IdempotencyInFlight(),
        None,
        IdempotencyReplay(response),
        IdempotencyMismatch(),
        IdempotencyReplay(response),
    ]
    assert pending.get(tx) == record(tx)  # only the request that took the key stored one


def test_keys_are_per_merchant_and_abandon_frees_the_key_and_the_pending_payment(
    records: tuple[IntakeRecords, PendingPayments],
) -> None:
    intake, pending = records
    key, tx, tx_b, tx_free = f"k-{unique()}", unique(), unique(), unique()

    async def steps() -> list[Any]:
        out = [
            await intake.begin("mer_a" + key, key, "h", record(tx)),
            await intake.begin("mer_b" + key, key, "h", record(tx_b)),
            await intake.begin("mer_a" + key, None, "", record(tx_free)),
        ]
        await intake.abandon("mer_a" + key, key, tx)
        await intake.abandon("mer_a" + key, key, tx)  # twice is fine
        out.append(await intake.begin("mer_a" + key, key, "other", record(unique())))
        return out

    assert run(steps()) == [IdempotencyBegun()] * 4
    assert pending.get(tx) is None
    assert pending.get(tx_b) == record(tx_b) and pending.get(tx_free) == record(tx_free)


@pytest.fixture(params=["fake", pytest.param("mongodb+redis", marks=real)])
def directory_with_merchant(request: pytest.FixtureRequest) -> tuple[Any, str, Merchant]:
    if request.param == "fake":
        fake = FakeMerchantDirectory()
        key = f"pgk_{unique()}"
        fake.add(key, Merchant("mer_x", "Shop"))
        return fake, key, Merchant("mer_x", "Shop")
    client: redis.Redis = request.getfixturevalue("redis_client")
    db = request.getfixturevalue("mongo_db")
    directory = MerchantRegistry(db, client, SealedBox(bytes(32)), cache_ttl_s=0)
    new = directory.create("Shop")
    return directory, new.api_key, Merchant(new.merchant_id, "Shop")


def test_directory_knows_its_keys_and_nothing_else(
    directory_with_merchant: tuple[Any, str, Merchant],
) -> None:
    directory, key, merchant = directory_with_merchant
    assert directory.authenticate(key) == merchant
    assert directory.authenticate(key + "x") is None
    assert directory.authenticate("pgk_" + unique()) is None


@pytest.fixture(params=["fake", pytest.param("mongodb", marks=real)])
def deliveries(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeWebhookDeliveries()
    return MongoWebhookDeliveries(request.getfixturevalue("mongo_db"))


def test_deliveries_create_once_record_each_attempt_once_and_compose(deliveries: Any) -> None:
    t0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    d = Delivery(
        f"evt_{unique()}", "tx", "m", "https://x/h", b'{"a":1}', DeliveryStatus.SCHEDULED, t0, t0
    )
    assert deliveries.create_all([d]) == [True]
    assert deliveries.create_all([d]) == [False]
    assert deliveries.get(d.webhook_id) == d
    assert deliveries.get("evt_missing") is None
    assert (
        deliveries.due(t0 + timedelta(days=1), 10, per_merchant=10) == []
    )  # the batch sends it: not indexed
    failed = after_attempt(d, DeliveryAttempt(t0, 500, None, 1.5), [5, 60])
    assert deliveries.record_all([failed], indexed=False) == [True]
    assert deliveries.record_all([failed], indexed=False) == [
        False
    ]  # attempt 1 is recorded already
    assert deliveries.get(d.webhook_id) == failed
    later = t0 + timedelta(seconds=5)
    assert deliveries.due(later - timedelta(seconds=1), 10, per_merchant=10) == []
    assert deliveries.due(later, 10, per_merchant=10) == [
        DueAttempt(d.webhook_id, 0, 2, later, merchant_id="m")
    ]
    done = after_attempt(failed, DeliveryAttempt(later, 204, None, 1.0), [5, 60])
    assert deliveries.record_all([done], indexed=True) == [True]
    assert deliveries.get(d.webhook_id) == done
    assert deliveries.due(t0 + timedelta(days=1), 10, per_merchant=10) == []


def test_a_resend_starts_a_round_without_touching_the_first(deliveries: Any) -> None:
    t0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    d = Delivery(
        f"evt_{unique()}", "tx", "m", "https://x/h", b'{"a":1}', DeliveryStatus.SCHEDULED, t0, t0
    )
    deliveries.create_all([d])
    first = after_attempt(d, DeliveryAttempt(t0, 204, None, 1.0), [5])
    deliveries.record_all([first], indexed=False)
    t1 = t0 + timedelta(hours=1)
    again = deliveries.reschedule(d.webhook_id, t1)
    assert (again.round, again.status, again.attempts, again.next_attempt_at) == (
        1,
        DeliveryStatus.SCHEDULED,
        (),
        t1,
    )
    assert again.body == d.body
    assert deliveries.reschedule("evt_missing", t0) is None
    assert deliveries.due(t1, 10, per_merchant=10) == [
        DueAttempt(d.webhook_id, 1, 1, t1, merchant_id="m")
    ]
    # an attempt of round 0 still in flight records into round 0 and leaves round 1 due
    in_flight = replace(first, attempts=(*first.attempts, first.attempts[0]))
    assert deliveries.record_all([in_flight], indexed=True) == [True]
    assert deliveries.due(t1, 10, per_merchant=10) == [
        DueAttempt(d.webhook_id, 1, 1, t1, merchant_id="m")
    ]
    deliveries.drop(DueAttempt(d.webhook_id, 1, 1, t1, merchant_id="m"))
    assert deliveries.due(t1, 10, per_merchant=10) == []


def test_a_batch_of_deliveries_is_created_and_recorded_together(deliveries: Any) -> None:
    t0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    a, b = (
        Delivery(
            f"evt_{unique()}", "tx", "m", "https://x/h", b"{}", DeliveryStatus.SCHEDULED, t0, t0
        )
        for _ in range(2)
    )
    assert deliveries.create_all([a]) == [True]
    assert deliveries.create_all([b, a]) == [True, False]
    done = after_attempt(a, DeliveryAttempt(t0, 204, None, 1.0), [5])
    retry = after_attempt(b, DeliveryAttempt(t0, 503, None, 1.0), [5])
    assert deliveries.record_all([done, retry], indexed=False) == [True, True]
    assert deliveries.record_all([done], indexed=False) == [False]
    assert deliveries.get(a.webhook_id) == done and deliveries.get(b.webhook_id) == retry
    later = t0 + timedelta(seconds=5)
    assert deliveries.due(later, 10, per_merchant=10) == [
        DueAttempt(b.webhook_id, 0, 2, later, merchant_id="m")
    ]


def test_one_lease_per_due_attempt_and_a_dead_holders_lease_is_taken_over(
    deliveries: Any,
) -> None:
    t0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    d = Delivery(
        f"evt_{unique()}", "tx", "m", "https://x/h", b"{}", DeliveryStatus.SCHEDULED, t0, t0
    )
    deliveries.create_all([d])
    deliveries.schedule(d, t0)
    deliveries.schedule(d, t0 + timedelta(hours=1))  # its round is due already: no change
    entries = deliveries.due(t0, 10, per_merchant=10)
    assert entries == [DueAttempt(d.webhook_id, 0, 1, t0, merchant_id="m")]
    assert deliveries.lease(entries, t0, 30) == entries
    assert deliveries.lease(entries, t0, 30) == []  # a concurrent run read the same entry
    assert (
        deliveries.due(t0 + timedelta(seconds=29), 10, per_merchant=10) == []
    )  # moved on by the lease
    assert [e.attempt for e in deliveries.due(t0 + timedelta(seconds=30), 10, per_merchant=10)] == [
        1
    ]
    # the holder died before moving the entry on: once the lease is old, a new due time
    assert deliveries.lease(entries, t0 + timedelta(seconds=10), 30) == []
    assert deliveries.lease(entries, t0 + timedelta(seconds=40), 30) == []
    retaken = deliveries.due(t0 + timedelta(seconds=40), 10, per_merchant=10)
    assert [e.due_at for e in retaken] == [t0 + timedelta(seconds=40)]
    assert deliveries.lease(retaken, t0 + timedelta(seconds=40), 30) == retaken


def due_delivery(deliveries: Any, merchant: str, at: datetime) -> str:
    """A delivery of `merchant` whose first attempt is due at `at`; its webhook id."""
    d = Delivery(
        f"evt_{unique()}", "tx", merchant, "https://x/h", b"{}", DeliveryStatus.SCHEDULED, at, at
    )
    deliveries.schedule(d, at)
    return d.webhook_id


def test_a_run_serves_every_merchant_in_turn_and_caps_the_one_that_hangs(
    deliveries: Any,
) -> None:
    t0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    newest_first = reversed(range(500))  # written in the opposite order to their due times
    hanging = [due_delivery(deliveries, "hangs", t0 + timedelta(seconds=i)) for i in newest_first]
    hanging.reverse()
    t1 = t0 + timedelta(hours=1)  # the others' are all younger than the hanging merchant's
    others = {  # within each turn the last merchant's entry is the oldest
        j: [due_delivery(deliveries, f"m{j}", t1 + timedelta(seconds=10 * i - j)) for i in range(3)]
        for j in range(5)
    }
    now = t1 + timedelta(minutes=1)
    got = deliveries.due(now, 20, per_merchant=10)
    turns = [[hanging[i], *(others[j][i] for j in reversed(range(5)))] for i in range(3)]
    assert [e.webhook_id for e in got] == [*turns[0], *turns[1], *turns[2], *hanging[3:5]]
    assert [e.merchant_id for e in got[:6]] == ["hangs", "m4", "m3", "m2", "m1", "m0"]
    # the cap: a run with room for all takes 10 of the hanging merchant's and every other's
    roomy = deliveries.due(now, 200, per_merchant=10)
    assert [e.webhook_id for e in roomy if e.merchant_id == "hangs"] == hanging[:10]
    assert len(roomy) == 25
    # more merchants than room: the first entry of those whose oldest is oldest
    assert [e.webhook_id for e in deliveries.due(now, 3, per_merchant=10)] == turns[0][:3]
    assert deliveries.due(t0 - timedelta(seconds=1), 20, per_merchant=10) == []


def test_an_entry_from_before_the_merchant_was_indexed_is_a_bucket_of_its_own(
    request: pytest.FixtureRequest, deliveries: Any
) -> None:
    t0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    legacy = [
        Delivery(
            f"evt_{unique()}", "tx", "shop", "https://x/h", b"{}", DeliveryStatus.SCHEDULED, t0, t0
        )
        for _ in range(3)
    ]
    for i, d in enumerate(legacy):
        deliveries.create_all([d])
        write_legacy_entry(request, deliveries, d.webhook_id, t0 + timedelta(seconds=i))
    indexed = due_delivery(deliveries, "m", t0 + timedelta(seconds=10))
    got = deliveries.due(t0 + timedelta(minutes=1), 10, per_merchant=2)
    assert [(e.webhook_id, e.merchant_id) for e in got] == [
        (legacy[0].webhook_id, None),
        (indexed, "m"),
        (legacy[1].webhook_id, None),
    ]
    # its next attempt reprojects it, now with the merchant's id
    failed = after_attempt(legacy[0], DeliveryAttempt(t0, 500, None, 1.0), [5])
    assert deliveries.record_all([failed], indexed=True) == [True]
    later = t0 + timedelta(seconds=5)
    assert DueAttempt(legacy[0].webhook_id, 0, 2, later, merchant_id="shop") in deliveries.due(
        later, 10, per_merchant=10
    )


def write_legacy_entry(
    request: pytest.FixtureRequest, deliveries: Any, webhook_id: str, at: datetime
) -> None:
    """A due-index entry as written before it carried the merchant's id."""
    if isinstance(deliveries, FakeWebhookDeliveries):
        deliveries.entries[f"{webhook_id}#0"] = DueAttempt(webhook_id, 0, 1, at, merchant_id=None)
        return
    doc = {"_id": f"{webhook_id}#0", "webhookId": webhook_id, "round": 0, "attempt": 1}
    request.getfixturevalue("mongo_db")[DUE].insert_one({**doc, "dueAt": at})


@real
def test_a_secret_sealed_with_another_key_is_none_not_a_crash(
    redis_client: redis.Redis, mongo_db: Any
) -> None:
    created = MerchantRegistry(mongo_db, redis_client, SealedBox(bytes(32))).create("Elsewhere")
    other_key = MerchantRegistry(mongo_db, redis_client, SealedBox(bytes(range(32))))
    assert other_key.webhook_secret(created.merchant_id) is None
    assert other_key.webhook_secret("mer_unknown") is None


@pytest.fixture(params=["fake", pytest.param("redis", marks=real)])
def slow_endpoints(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeSlowEndpoints(mark_s=0.3)
    return RedisSlowEndpoints(request.getfixturevalue("redis_client"), mark_s=0.3)


def test_slow_endpoints_are_marked_cleared_and_forgotten(slow_endpoints: Any) -> None:
    a, b, c = (f"mer_{unique()}" for _ in range(3))
    assert slow_endpoints.slow_among([]) == set()
    assert slow_endpoints.slow_among([a, b]) == set()
    slow_endpoints.mark_slow(a)
    slow_endpoints.mark_slow(b)
    assert slow_endpoints.slow_among([a, b, c, a]) == {a, b}
    slow_endpoints.clear(b)
    assert slow_endpoints.slow_among([a, b, c]) == {a}
    time.sleep(0.45)
    assert slow_endpoints.slow_among([a]) == set()  # a mark lasts mark_s


@real
def test_slow_endpoints_fail_open_when_redis_does_not_answer() -> None:
    down = RedisSlowEndpoints(redis.Redis(port=1, socket_connect_timeout=0.2), mark_s=1)
    down.mark_slow("mer_x")
    down.clear("mer_x")
    assert down.slow_among(["mer_x"]) == set()  # every merchant counts as healthy


@real
def test_a_burst_beyond_the_connection_pool_waits_for_a_connection(infra: Any) -> None:
    """More concurrent commands than connections (redis-py's default pool refused the 101st
    with MaxConnectionsError: a 503 for every payment of a burst past it)."""
    intake = RedisIntakeRecords(LoopRedis(infra.redis_url, max_connections=8))
    merchant = f"mer_{unique()}"

    async def burst() -> list[Any]:
        return await asyncio.gather(
            *(intake.begin(merchant, f"k{i}", "h", record(unique())) for i in range(300))
        )

    assert run(burst()) == [IdempotencyBegun()] * 300
