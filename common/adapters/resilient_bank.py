"""The bank behind a circuit breaker shared by every worker, with bounded retries.

- Retries only what may succeed later (TransientError: timeouts, connection errors, 5xx,
  429) and a breaker that is open; a refusal (PermanentError) is final at once.
- Exponential backoff with full jitter, stopped by a deadline (the payment's retry budget or
  the invocation's remaining time, whichever comes first).
- The breaker's state lives in Redis (pybreaker's CircuitRedisStorage), so when the bank is
  down every worker stops calling it within `fail_max` failures and probes it again after
  `reset_timeout`. If Redis is unreachable the breaker falls back to closed: calls go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_before_delay,
    wait_random_exponential,
)

from common.domain.errors import BankUnavailableError, PermanentError, TransientError
from common.domain.ports import AuthorizationRequest, Bank, BankAttempt, BankDecision

T = TypeVar("T")


class ResilientBank:
    """The AuthorizingBank port (common/domain/ports.py) over a plain Bank."""

    def __init__(
        self,
        bank: Bank,
        breaker: pybreaker.CircuitBreaker,
        attempt_timeout_s: float,
        max_backoff_s: float = 2.0,
    ) -> None:
        self._bank = bank
        self._breaker = breaker
        self._attempt_timeout_s = attempt_timeout_s
        self._max_backoff_s = max_backoff_s

    def authorize(
        self,
        request: AuthorizationRequest,
        deadline: float,
        on_attempt: Callable[[BankAttempt], None],
    ) -> BankDecision:
        """Decide within `deadline` (time.monotonic()) or raise BankUnavailableError."""
        attempts = 0
        breaker_open = False

        def attempt() -> BankDecision:
            nonlocal attempts, breaker_open
            attempts += 1
            # The first attempt always gets the full timeout: a redelivered payment whose
            # budget is spent still deserves the bank's (replayed) answer, not a 50 ms call.
            timeout = (
                self._attempt_timeout_s
                if attempts == 1
                else max(0.05, min(self._attempt_timeout_s, deadline - time.monotonic()))
            )
            started, at = time.perf_counter(), datetime.now(UTC)

            def record(result: str, detail: str | None = None) -> None:
                ms = round((time.perf_counter() - started) * 1000, 1)
                on_attempt(BankAttempt(at, ms, result, detail))

            try:
                decision = self._breaker.call(self._bank.authorize, request, timeout)
            except pybreaker.CircuitBreakerError:
                breaker_open = self._breaker.current_state == pybreaker.STATE_OPEN
                record("breaker_open" if breaker_open else "unavailable", "circuit open")
                raise
            except TransientError as exc:
                breaker_open = False
                record("unavailable", exc.detail)
                raise
            except PermanentError as exc:
                record("rejected", str(exc))
                raise
            breaker_open = False
            record("approved" if decision.approved else "declined", decision.decline_code)
            return decision

        retrying = Retrying(
            retry=retry_if_exception_type((TransientError, pybreaker.CircuitBreakerError)),
            wait=wait_random_exponential(multiplier=0.1, max=self._max_backoff_s),
            stop=stop_before_delay(max(0.0, deadline - time.monotonic())),
            reraise=False,
        )
        try:
            return retrying(attempt)
        except RetryError:
            raise BankUnavailableError(attempts, breaker_open) from None

    def inquire(self, transaction_id: str, wait_s: float) -> BankDecision | None:
        """Before giving a payment up: did the bank decide anyway (an attempt that timed out
        on our side may still have been authorized on the bank's)? Asks again until `wait_s`
        has passed, so an authorization still in flight at the bank can land. Outside the
        breaker: a status inquiry charges nothing. None when the bank says nothing."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                found = self._bank.decision(transaction_id, self._attempt_timeout_s)
            except TransientError:
                found = None
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


class ConcurrentCircuitBreaker(pybreaker.CircuitBreaker):
    """pybreaker's `call` holds a lock for the whole call, which made the bank calls of one
    worker run one at a time (measured: 8 parallel 0.2 s calls took 1.6 s). The state lives
    in Redis and is shared with other processes anyway, so the lock buys no atomicity; a
    half-open breaker may let a few concurrent probes through."""

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = self.state.call(func, *args, **kwargs)
        return result


def shared_breaker(
    storage: pybreaker.CircuitBreakerStorage, fail_max: int, reset_timeout_s: float
) -> pybreaker.CircuitBreaker:
    return ConcurrentCircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout_s,
        exclude=[PermanentError],
        state_storage=storage,
        name="bank",
    )
