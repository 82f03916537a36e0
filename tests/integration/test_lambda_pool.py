"""The Lambda-like execution environments behind the API Gateway emulation: one invocation at a
time per environment, the warm one reused, and a failed one replaced like Lambda replaces it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.lambda_runtime import FunctionSpec, InvocationError, LambdaPool

HANDLERS = "tests.integration.lambda_handlers"


def pool_of(handler: str, concurrency: int, timeout_s: float = 5.0) -> LambdaPool:
    return LambdaPool(
        FunctionSpec("TestFunction", f"{HANDLERS}.{handler}", timeout_s, 128), {}, concurrency
    )


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_events_go_in_and_results_come_out_of_a_warm_environment(
    loop: asyncio.AbstractEventLoop,
) -> None:
    pool = pool_of("echo", 2)
    try:
        pool.warm_up()
        event = {"body": "x" * 200_000, "headers": {"a": "b"}}
        first = loop.run_until_complete(pool.invoke(event))
        second = loop.run_until_complete(pool.invoke({"n": 2}))
    finally:
        pool.close()
    assert first["event"] == event
    assert second["pid"] == first["pid"]  # the environment used last is used again


def test_one_invocation_at_a_time_per_environment(loop: asyncio.AbstractEventLoop) -> None:
    pool = pool_of("slow", 2)

    async def three() -> tuple[list[Any], float]:
        started = time.monotonic()
        out = await asyncio.gather(*(pool.invoke({"seconds": 0.5}) for _ in range(3)))
        return out, time.monotonic() - started

    try:
        pool.warm_up()
        results, took = loop.run_until_complete(three())
    finally:
        pool.close()
    assert len({r["pid"] for r in results}) == 2
    assert took >= 1.0  # the third waited for an environment to be free


def test_a_handler_that_raises_is_502_and_its_environment_lives_on(
    loop: asyncio.AbstractEventLoop,
) -> None:
    pool = pool_of("broken", 1)
    try:
        with pytest.raises(InvocationError) as failed:
            loop.run_until_complete(pool.invoke({}))
        with pytest.raises(InvocationError):
            loop.run_until_complete(pool.invoke({}))
    finally:
        pool.close()
    assert failed.value.status == 502 and "ValueError" in str(failed.value)


def test_a_timed_out_or_dead_environment_is_replaced_by_a_fresh_one(
    loop: asyncio.AbstractEventLoop,
) -> None:
    slow = pool_of("slow", 1, timeout_s=0.5)
    crash = pool_of("crash", 1)
    try:
        before = loop.run_until_complete(slow.invoke({"seconds": 0}))["pid"]
        with pytest.raises(InvocationError) as timed_out:
            loop.run_until_complete(slow.invoke({"seconds": 5}))
        after = loop.run_until_complete(slow.invoke({"seconds": 0}))["pid"]
        with pytest.raises(InvocationError) as died:
            loop.run_until_complete(crash.invoke({}))
        with pytest.raises(InvocationError) as died_again:  # a fresh one, that crashes too
            loop.run_until_complete(crash.invoke({}))
    finally:
        slow.close()
        crash.close()
    assert timed_out.value.status == 503 and after != before
    assert died.value.status == died_again.value.status == 502
