"""The bank breaker's shared state in Redis, read and written less often.

pybreaker's CircuitRedisStorage reads the state from Redis on every call and writes a reset of
the failure count after every success: two round trips per bank call, measured (py-spy, 40
payments/s) as a quarter of the process workers' CPU, more than the bank call itself. This
storage keeps both behaviours but at most once per `refresh_s` per process:
- the state is read again once it is `refresh_s` old (another worker's opening of the breaker
  is seen within that time, its own at once);
- a success resets the shared failure count if this process saw a failure since its last
  reset, and otherwise at most every `refresh_s` (so failures counted by other workers are
  still cleared by a success here, within that time).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pybreaker
import redis


class SharedBreakerStorage(pybreaker.CircuitRedisStorage):
    def __init__(
        self,
        state: str,
        redis_object: redis.Redis,
        namespace: str,
        refresh_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(state, redis_object, namespace=namespace)
        self._refresh_s = refresh_s
        self._clock = clock
        self._state: str | None = None
        self._state_read_at = float("-inf")
        self._failed_since_reset = True
        self._reset_at = float("-inf")

    @property
    def state(self) -> str:
        now = self._clock()
        if self._state is None or now - self._state_read_at >= self._refresh_s:
            self._state, self._state_read_at = super().state, now
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        pybreaker.CircuitRedisStorage.state.fset(self, state)  # type: ignore[attr-defined]
        self._state, self._state_read_at = str(state), self._clock()

    def increment_counter(self) -> None:
        super().increment_counter()
        self._failed_since_reset = True

    def reset_counter(self) -> None:
        now = self._clock()
        if self._failed_since_reset or now - self._reset_at >= self._refresh_s:
            super().reset_counter()
            self._failed_since_reset, self._reset_at = False, now
