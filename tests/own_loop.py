"""Coroutines run by tests on a loop of their own, never made the thread's current one:
`asyncio.run` leaves the main thread without a current loop, and Mangum's handler (other tests
in the same process) asks for one."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
