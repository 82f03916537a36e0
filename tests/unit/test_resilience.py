"""The bank behind the breaker and retries, with an in-memory breaker state (no sockets)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pybreaker
import pytest

from common.adapters.resilient_bank import ResilientBank, shared_breaker
from common.domain.errors import BankUnavailableError, PermanentError, TransientError
from common.domain.ports import AuthorizationRequest, BankAttempt, BankDecision

REQUEST = AuthorizationRequest("tx", "m", 100, "EUR", "4242424242424242", 12, 2030, None)


class ScriptedBank:
    def __init__(self, *answers: object, delay_s: float = 0.0) -> None:
        self.answers = list(answers)
        self.timeouts: list[float] = []
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.decided: BankDecision | None = None
        """What a status inquiry finds (the bank decided although we heard nothing)."""

    def authorize(self, request: AuthorizationRequest, timeout_s: float) -> BankDecision:
        time.sleep(self.delay_s)
        with self.lock:
            self.timeouts.append(timeout_s)
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, BankDecision)
        return answer

    def decision(self, transaction_id: str, timeout_s: float) -> BankDecision | None:
        return self.decided


APPROVED = BankDecision(True, None, "auth_1")


def breaker(fail_max: int = 5) -> pybreaker.CircuitBreaker:
    return shared_breaker(pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED), fail_max, 60)


def test_transient_failures_are_retried_and_every_attempt_reported() -> None:
    bank = ScriptedBank(
        TransientError("bank", "HTTP 503"), TransientError("bank", "timeout"), APPROVED
    )
    seen: list[BankAttempt] = []
    decision = ResilientBank(bank, breaker(), 1.0).authorize(
        REQUEST, time.monotonic() + 10, seen.append
    )
    assert decision == APPROVED
    assert [a.result for a in seen] == ["unavailable", "unavailable", "approved"]


def test_a_refusal_is_not_retried_and_does_not_trip_the_breaker() -> None:
    b = breaker(fail_max=1)
    bank = ScriptedBank(PermanentError("HTTP 400"))
    with pytest.raises(PermanentError):
        ResilientBank(bank, b, 1.0).authorize(REQUEST, time.monotonic() + 10, lambda _a: None)
    assert len(bank.timeouts) == 1 and b.current_state == "closed"


def test_the_first_attempt_gets_the_full_timeout_even_past_the_deadline() -> None:
    bank = ScriptedBank(APPROVED)
    ResilientBank(bank, breaker(), 2.0).authorize(REQUEST, time.monotonic() - 5, lambda _a: None)
    assert bank.timeouts == [2.0]


def test_an_open_breaker_stops_calls_until_the_deadline() -> None:
    b = breaker(fail_max=2)
    bank = ScriptedBank(TransientError("bank", "HTTP 503"))
    with pytest.raises(BankUnavailableError) as info:
        ResilientBank(bank, b, 0.1, max_backoff_s=0.05).authorize(
            REQUEST, time.monotonic() + 0.5, lambda _a: None
        )
    assert info.value.breaker_open and b.current_state == "open"
    assert len(bank.timeouts) == 2  # the breaker refused the rest without calling the bank


def test_calls_through_the_breaker_run_concurrently() -> None:
    bank = ScriptedBank(APPROVED, delay_s=0.2)
    resilient = ResilientBank(bank, breaker(), 1.0)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda _i: resilient.authorize(REQUEST, time.monotonic() + 5, lambda _a: None),
                range(8),
            )
        )
    assert time.monotonic() - started < 0.8  # one at a time would take 1.6 s


def test_an_inquiry_finds_a_decision_the_bank_made_after_our_timeout() -> None:
    bank = ScriptedBank(TransientError("bank", "timeout"))
    resilient = ResilientBank(bank, breaker(), 0.1)
    assert resilient.inquire("tx", 0.0) is None
    bank.decided = APPROVED
    assert resilient.inquire("tx", 0.0) == APPROVED


def test_an_inquiry_keeps_asking_until_its_wait_is_over() -> None:
    bank = ScriptedBank(TransientError("bank", "timeout"))
    threading.Timer(0.3, lambda: setattr(bank, "decided", APPROVED)).start()
    started = time.monotonic()
    assert ResilientBank(bank, breaker(), 0.1).inquire("tx", 2.0) == APPROVED
    assert time.monotonic() - started < 1.5
