"""The ratio breaker's shared storage: SharedBreakerStorage on the real Redis beside its
in-memory twin (tests/fakes.py), then what only Redis does: two workers (two processes) seeing
one window, one half-open period and one set of probes."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable
from typing import Any

import pybreaker
import pytest
import redis

from common.adapters.ratio_breaker import BreakerPolicy, RatioCircuitBreaker
from common.adapters.redis_breaker_storage import SharedBreakerStorage
from common.domain.errors import TransientError
from tests.fakes import FakeBreakerStorage

Storage = Any  # SharedBreakerStorage | FakeBreakerStorage


class Wall:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def shared(
    client: redis.Redis, namespace: str, wall: Callable[[], float] = time.time
) -> SharedBreakerStorage:
    return SharedBreakerStorage(
        pybreaker.STATE_CLOSED, client, namespace, sampling_s=10, refresh_s=0, wall=wall
    )


@pytest.fixture(params=["fake", "redis"])
def storage_of(request: pytest.FixtureRequest) -> Callable[[Wall], Storage]:
    if request.param == "fake":
        return lambda wall: FakeBreakerStorage(sampling_s=10, wall=wall)
    client = request.getfixturevalue("redis_client")
    namespace = f"test:breaker:{uuid.uuid4().hex}"
    return lambda wall: shared(client, namespace, wall)


def test_the_window_counts_calls_and_failures_of_the_sampling_duration(
    storage_of: Callable[[Wall], Storage],
) -> None:
    wall = Wall()
    s = storage_of(wall)
    s.reset_counter()
    s.increment_counter()
    s.increment_counter()
    assert s.read_window() == (3, 2)
    wall.now += 5
    s.reset_counter()
    assert s.read_window() == (4, 2)
    wall.now += 6  # the first three are older than 10 s now
    assert s.read_window() == (1, 0)
    s.clear_window()
    assert s.read_window() == (0, 0) and s.window == (0, 0)


def test_half_open_begins_after_the_break_and_lets_a_bounded_number_of_probes_through(
    storage_of: Callable[[Wall], Storage],
) -> None:
    s = storage_of(Wall())
    assert s.begin_half_open(0) == pybreaker.STATE_CLOSED  # closed: nothing to begin
    s.opened_at = pybreaker.datetime.now(pybreaker.UTC)
    s.state = pybreaker.STATE_OPEN
    assert s.begin_half_open(60) == pybreaker.STATE_OPEN  # the break is not over
    assert s.begin_half_open(0) == pybreaker.STATE_HALF_OPEN
    assert [s.take_probe(2) for _ in range(3)] == [True, True, False]
    assert s.begin_half_open(0) == pybreaker.STATE_HALF_OPEN  # already: no new probes
    assert not s.take_probe(2)


@pytest.mark.integration
def test_two_workers_share_one_window_and_one_half_open_period(redis_client: redis.Redis) -> None:
    namespace = f"test:breaker:{uuid.uuid4().hex}"
    a, b = shared(redis_client, namespace), shared(redis_client, namespace)
    a.increment_counter()
    b.increment_counter()
    b.reset_counter()
    assert a.read_window() == b.read_window() == (3, 2)
    a.opened_at = pybreaker.datetime.now(pybreaker.UTC)
    a.state = pybreaker.STATE_OPEN
    assert a.begin_half_open(0) == b.begin_half_open(0) == pybreaker.STATE_HALF_OPEN
    assert [a.take_probe(2), b.take_probe(2), a.take_probe(2)] == [True, True, False]


def test_redis_gone_leaves_the_breaker_closed_and_nothing_raises() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    s = SharedBreakerStorage(pybreaker.STATE_CLOSED, dead, "test:breaker:gone")  # a cold start
    assert s.state == pybreaker.STATE_CLOSED
    s.increment_counter()
    s.reset_counter()
    assert s.read_window() == (0, 0)
    assert s.begin_half_open(0) == pybreaker.STATE_CLOSED and s.take_probe(1)


def _fail_calls(redis_url: str, namespace: str, calls: int, out: Any) -> None:
    """One worker process: `calls` failing bank calls through its own breaker."""
    storage = SharedBreakerStorage(
        pybreaker.STATE_CLOSED, redis.Redis.from_url(redis_url), namespace
    )
    breaker = RatioCircuitBreaker(storage, BreakerPolicy(minimum_throughput=20, break_s=60))

    def bank() -> None:
        raise TransientError("bank", "HTTP 503")

    made = 0
    for _ in range(calls):
        try:
            breaker.call(bank)
            made += 1
        except TransientError:
            made += 1
        except pybreaker.CircuitBreakerError as exc:
            if exc.__context__ is not None:
                made += 1  # this call failed and opened it
        time.sleep(0.02)
    out.put((made, breaker.current_state))


@pytest.mark.integration
def test_a_full_outage_opens_it_within_minimum_throughput_calls_seen_from_two_processes(
    redis_client: redis.Redis, infra: Any
) -> None:
    namespace = f"test:breaker:{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    url = infra.redis_url
    procs = [ctx.Process(target=_fail_calls, args=(url, namespace, 30, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    made = sum(m for m, _state in results)
    assert [state for _m, state in results] == ["open", "open"]
    # 20 calls open it; a worker sees the other's opening within its 0.5 s refresh
    assert 20 <= made <= 20 + 2 * 25
