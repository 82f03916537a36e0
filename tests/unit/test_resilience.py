"""The bank behind the breaker and retries, and the ratio breaker itself, with an in-memory
breaker state (tests/fakes.py; no sockets)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pybreaker
import pytest

from common.adapters.ratio_breaker import BreakerPolicy, RatioCircuitBreaker
from common.adapters.resilient_bank import ResilientBank
from common.domain.errors import BankUnavailableError, PermanentError, TransientError
from common.domain.ports import AuthorizationRequest, BankAttempt, BankDecision
from tests.fakes import FakeBreakerStorage

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


def breaker(
    minimum: int = 5, ratio: float = 0.5, break_s: float = 60, probes: int = 2
) -> RatioCircuitBreaker:
    policy = BreakerPolicy(
        failure_ratio=ratio, minimum_throughput=minimum, break_s=break_s, half_open_probes=probes
    )
    return RatioCircuitBreaker(FakeBreakerStorage(), policy)


def call(b: RatioCircuitBreaker, answer: object) -> object:
    def bank() -> object:
        if isinstance(answer, Exception):
            raise answer
        return answer

    try:
        return b.call(bank)
    except (TransientError, PermanentError, pybreaker.CircuitBreakerError) as exc:
        return exc


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
    b = breaker(minimum=1)
    bank = ScriptedBank(PermanentError("HTTP 400"))
    with pytest.raises(PermanentError):
        ResilientBank(bank, b, 1.0).authorize(REQUEST, time.monotonic() + 10, lambda _a: None)
    assert len(bank.timeouts) == 1 and b.current_state == "closed"


def test_the_first_attempt_gets_the_full_timeout_even_past_the_deadline() -> None:
    bank = ScriptedBank(APPROVED)
    ResilientBank(bank, breaker(), 2.0).authorize(REQUEST, time.monotonic() - 5, lambda _a: None)
    assert bank.timeouts == [2.0]


def test_an_open_breaker_ends_the_attempts_at_once_instead_of_spending_the_deadline() -> None:
    b = breaker(minimum=2, ratio=1.0)
    bank = ScriptedBank(TransientError("bank", "HTTP 503"))
    seen: list[BankAttempt] = []
    started = time.monotonic()
    with pytest.raises(BankUnavailableError) as info:
        ResilientBank(bank, b, 0.1, max_backoff_s=0.05).authorize(
            REQUEST, time.monotonic() + 5, seen.append
        )
    assert info.value.breaker_open and b.current_state == "open"
    assert len(bank.timeouts) == 2 and time.monotonic() - started < 1
    assert [a.result for a in seen] == ["unavailable", "unavailable"]  # the 2nd opened it
    with pytest.raises(BankUnavailableError):
        ResilientBank(bank, b, 0.1).authorize(REQUEST, time.monotonic() + 5, seen.append)
    assert len(bank.timeouts) == 2 and seen[-1].result == "breaker_open"


def test_the_breaker_opens_on_the_failure_ratio_once_enough_calls_were_seen() -> None:
    b = breaker(minimum=10, ratio=0.5)
    for _ in range(4):
        call(b, APPROVED)
    for _ in range(4):
        call(b, TransientError("bank", "timeout"))
    assert b.current_state == "closed"  # 4 of 8: too few calls to judge
    call(b, APPROVED)
    assert b.current_state == "closed"  # 4 of 9
    assert isinstance(call(b, TransientError("bank", "timeout")), pybreaker.CircuitBreakerError)
    assert b.current_state == "open"  # 5 of 10


def test_one_card_failing_among_healthy_calls_never_opens_it() -> None:
    b = breaker(minimum=20, ratio=0.5)
    for i in range(500):
        call(b, TransientError("bank", "timeout") if i % 3 == 0 else APPROVED)
    assert b.current_state == "closed"


def test_declines_and_refusals_are_successes_for_the_breaker() -> None:
    b = breaker(minimum=4, ratio=0.5)
    declined = BankDecision(False, "card_declined", "auth_2")
    for _ in range(10):
        call(b, declined)
        call(b, PermanentError("HTTP 400"))
    call(b, TransientError("bank", "timeout"))
    assert b.current_state == "closed"


def test_half_open_lets_a_bounded_number_of_probes_through_and_a_success_closes_it() -> None:
    b = breaker(minimum=2, ratio=1.0, break_s=0, probes=2)
    call(b, TransientError("bank", "timeout"))
    call(b, TransientError("bank", "timeout"))
    assert b.current_state == "open"
    entered = threading.Event()
    release = threading.Event()

    def slow_probe() -> BankDecision:
        entered.set()
        release.wait(5)
        return APPROVED

    with ThreadPoolExecutor(2) as pool:
        probes = [pool.submit(b.call, slow_probe), pool.submit(b.call, slow_probe)]
        entered.wait(5)
        time.sleep(0.1)
        assert b.current_state == "half-open"
        assert isinstance(call(b, APPROVED), pybreaker.CircuitBreakerError)  # a third: refused
        release.set()
        assert [p.result() for p in probes] == [APPROVED, APPROVED]
    assert b.current_state == "closed"
    assert b.storage.window == (0, 0)  # closed: counting starts anew


def test_a_failed_probe_opens_it_again() -> None:
    b = breaker(minimum=1, ratio=1.0, break_s=0)
    call(b, TransientError("bank", "timeout"))
    assert b.current_state == "open"
    assert isinstance(call(b, TransientError("bank", "timeout")), pybreaker.CircuitBreakerError)
    assert b.current_state == "open"


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
