"""SharedBreakerStorage on the real Redis: the shared breaker state, read and reset at most once
per refresh per process, and what another worker writes seen within that time."""

from __future__ import annotations

import uuid

import pybreaker
import redis

from common.adapters.redis_breaker_storage import SharedBreakerStorage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_another_workers_state_is_seen_within_the_refresh(redis_client: redis.Redis) -> None:
    namespace, clock = f"test:breaker:{uuid.uuid4().hex}", Clock()
    mine = SharedBreakerStorage(pybreaker.STATE_CLOSED, redis_client, namespace, 0.5, clock)
    other = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, redis_client, namespace)
    assert mine.state == pybreaker.STATE_CLOSED
    other.state = pybreaker.STATE_OPEN
    assert mine.state == pybreaker.STATE_CLOSED  # read 0 s ago
    clock.now += 0.5
    assert mine.state == pybreaker.STATE_OPEN
    mine.state = pybreaker.STATE_HALF_OPEN  # its own change: at once, and for the others
    assert mine.state == pybreaker.STATE_HALF_OPEN == other.state


def test_successes_reset_the_shared_count_after_a_failure_and_otherwise_now_and_then(
    redis_client: redis.Redis,
) -> None:
    namespace, clock = f"test:breaker:{uuid.uuid4().hex}", Clock()
    mine = SharedBreakerStorage(pybreaker.STATE_CLOSED, redis_client, namespace, 0.5, clock)
    other = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, redis_client, namespace)
    mine.increment_counter()
    mine.reset_counter()
    assert other.counter == 0  # a failure here: the next success here resets at once
    other.increment_counter()
    other.increment_counter()
    mine.reset_counter()
    assert other.counter == 2  # reset 0 s ago, no failure seen here since
    clock.now += 0.5
    mine.reset_counter()
    assert other.counter == 0
