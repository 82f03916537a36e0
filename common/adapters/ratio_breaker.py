"""A circuit breaker that opens on the bank's failure *ratio*, not on one card's failures.

The semantics of Polly v8's advanced circuit breaker (and Resilience4j's failureRateThreshold /
minimumNumberOfCalls): over the storage's window (its `sampling_s`, the last seconds whose
calls every worker added to), once at least `minimum_throughput`
calls were seen, the breaker opens when `failure_ratio` of them failed; it stays open for
`break_s`, then half-open lets at most `half_open_probes` calls through (across every worker):
one success closes it, one failure opens it again. A call counts once; a decline or a refusal
(4xx, PermanentError) is a success for the breaker, since the bank answered.

pybreaker (the user's choice) stays the state machine: its CircuitBreaker, its three states,
its listeners, its Redis storage of the state and `opened_at`. Its closed state counts
*consecutive* failures and its half-open state admits every call, so this module extends it by
the smallest amount that carries the semantics above: the closed state reads the shared window
(common/adapters/redis_breaker_storage.py) instead of the counter, the open state moves to
half-open through Redis (once for all workers), and the half-open state takes a probe before
each call. Nothing else of pybreaker changes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import pybreaker

from common.domain.errors import PermanentError

T = TypeVar("T")


@runtime_checkable
class WindowedStorage(Protocol):
    """What the ratio breaker needs of its pybreaker storage beyond pybreaker's own: the
    shared window and the shared half-open move (common/adapters/redis_breaker_storage.py;
    an in-memory twin for unit tests in tests/fakes.py)."""

    window: tuple[int, int]

    def clear_window(self) -> None: ...

    def begin_half_open(self, break_s: float) -> str: ...

    def take_probe(self, probes: int) -> bool: ...


@dataclass(frozen=True)
class BreakerPolicy:
    failure_ratio: float = 0.5
    minimum_throughput: int = 20
    break_s: float = 10.0
    half_open_probes: int = 3

    def trips(self, calls: int, failures: int) -> bool:
        return calls >= self.minimum_throughput and failures >= self.failure_ratio * calls


class _Closed(pybreaker.CircuitBreakerState):
    def __init__(
        self,
        cb: RatioCircuitBreaker,
        prev_state: pybreaker.CircuitBreakerState | None = None,
        notify: bool = False,
    ) -> None:
        super().__init__(cb, pybreaker.STATE_CLOSED)
        self._cb = cb
        if notify:
            for listener in cb.listeners:
                listener.state_change(cb, prev_state, self)

    def on_failure(self, exc: BaseException) -> None:
        calls, failures = self._cb.storage.window
        if self._cb.policy.trips(calls, failures):
            self._cb.open()
            raise pybreaker.CircuitBreakerError(
                f"{failures} of {calls} bank calls failed, breaker opened"
            ).with_traceback(sys.exc_info()[2])


class _Open(pybreaker.CircuitOpenState):
    def before_call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        cb = self._breaker
        assert isinstance(cb, RatioCircuitBreaker)
        state = cb.storage.begin_half_open(cb.reset_timeout)
        if state == pybreaker.STATE_OPEN:
            raise pybreaker.CircuitBreakerError("circuit open")
        cb.state = state
        return cb.call(func, *args, **kwargs)


class _HalfOpen(pybreaker.CircuitHalfOpenState):
    def before_call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        cb = self._breaker
        assert isinstance(cb, RatioCircuitBreaker)
        if not cb.storage.take_probe(cb.policy.half_open_probes):
            raise pybreaker.CircuitBreakerError("circuit half-open, its probes are taken")


class RatioCircuitBreaker(pybreaker.CircuitBreaker):
    """pybreaker's `call` holds a lock for the whole call, which made one worker's bank calls
    run one at a time (measured: 8 parallel 0.2 s calls took 1.6 s). The state lives in Redis,
    shared with other processes, so the lock buys no atomicity: `call` goes without it (what
    must be atomic, the half-open move and its probes, is decided in Redis)."""

    def __init__(self, storage: pybreaker.CircuitBreakerStorage, policy: BreakerPolicy) -> None:
        if not isinstance(storage, WindowedStorage):
            raise TypeError("the ratio breaker needs a storage with a shared window")
        self.storage = cast(WindowedStorage, storage)
        self.policy = policy
        super().__init__(
            fail_max=policy.minimum_throughput,
            reset_timeout=policy.break_s,
            exclude=[PermanentError],
            state_storage=storage,
            name="bank",
        )

    def _create_new_state(
        self,
        new_state: str,
        prev_state: pybreaker.CircuitBreakerState | None = None,
        notify: bool = False,
    ) -> Any:
        states: dict[str, Any] = {
            pybreaker.STATE_CLOSED: _Closed,
            pybreaker.STATE_OPEN: _Open,
            pybreaker.STATE_HALF_OPEN: _HalfOpen,
        }
        if new_state not in states:
            raise ValueError(f"unknown breaker state {new_state!r}")
        return states[new_state](self, prev_state=prev_state, notify=notify)

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = self.state.call(func, *args, **kwargs)
        return result

    def close(self) -> None:
        """A probe succeeded: the window starts anew (for every worker)."""
        self.storage.clear_window()
        super().close()
