"""The bank behind a circuit breaker shared by every worker, with bounded retries.

- Retries only what may succeed later (TransientError: timeouts, connection errors, 5xx,
  429); a refusal (PermanentError) is final at once, and so is an open breaker: the payment
  is parked (functions/process) instead of spending its budget here.
- Exponential backoff with full jitter, stopped by a deadline: processing gives one payment
  one attempt's time (BANK_TIMEOUT_MS) per pass, so a fast 503 is retried at once and a
  silent bank costs one timeout, never the batch's whole budget.
- The breaker (common/adapters/ratio_breaker.py) opens on the bank's failure ratio across
  every worker. If Redis is unreachable it falls back to closed: calls go on.
- Reversals and status inquiries go outside the breaker: they never charge, and a reversal
  must be tried whatever the breaker thinks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

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

        def attempt() -> BankDecision:
            nonlocal attempts
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
            except pybreaker.CircuitBreakerError as exc:
                failed = exc.__context__  # this very call failed and opened the breaker
                if isinstance(failed, TransientError):
                    record("unavailable", failed.detail)
                else:
                    record("breaker_open", "circuit open")
                raise
            except TransientError as exc:
                record("unavailable", exc.detail)
                raise
            except PermanentError as exc:
                record("rejected", str(exc))
                raise
            record("approved" if decision.approved else "declined", decision.decline_code)
            return decision

        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            wait=wait_random_exponential(multiplier=0.1, max=self._max_backoff_s),
            stop=stop_before_delay(max(0.0, deadline - time.monotonic())),
            reraise=False,
        )
        try:
            return retrying(attempt)
        except RetryError:  # only TransientErrors are retried: the last one was one
            raise BankUnavailableError(attempts, breaker_open=False) from None
        except pybreaker.CircuitBreakerError:  # never retried: it ends the attempts at once
            raise BankUnavailableError(attempts, breaker_open=True) from None

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

    def reverse(self, transaction_id: str) -> bool:
        try:
            self._bank.reverse(transaction_id, self._attempt_timeout_s)
        except TransientError:
            return False
        return True
