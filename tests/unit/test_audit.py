"""The audit's verdicts, from hand-made observations (collecting them is tested end to end
by tests/e2e/test_demo.py against the real system)."""

from harness.audit import Audit, percentile, traces
from harness.traffic import TEST_CARDS, Submission, plan_mix

HOOK = "http://127.0.0.1:8082/hooks/mer_x"


def submissions() -> list[Submission]:
    out = []
    for i, r in enumerate(plan_mix(30, HOOK, "run")):
        if r.kind == "invalid":
            out.append(Submission(r, 100.0 + i, 0.01, r.expected_status, problem="no"))
        else:
            tx = f"tx-{r.idempotency_key}"
            out.append(Submission(r, 100.0 + i, 0.01, 202, tx, replayed=r.kind == "replay"))
    return out


def settled() -> Audit:
    a = Audit(submissions(), traces(submissions()))
    for p in a.payments.values():
        assert p.card is not None
        p.status, p.reason = p.card.status, p.card.reason
        p.webhook_ids = {f"evt_{p.transaction_id}"}
        p.first_webhook_at = p.submitted_at + 0.5
        p.bank_approvals = p.bank_charges = 1 if p.card.status == "succeeded" else 0
    return a


def test_a_replay_is_one_payment() -> None:
    a = settled()
    replayed, sent = a.replays
    assert sent >= 1 and replayed == sent
    assert a.accepted == len({s.transaction_id for s in a.submissions if s.accepted})


def test_everything_settled_is_ok() -> None:
    a = settled()
    assert a.ok and not a.lost and a.webhooks_verified == a.accepted
    assert a.latencies_s == [0.5] * a.accepted
    assert sum(a.outcomes.values()) == a.accepted


def test_not_terminal_or_without_webhook_is_lost() -> None:
    a = settled()
    first, second = list(a.payments.values())[:2]
    first.status = "processing"
    second.webhook_ids = set()
    assert a.lost == sorted([first.transaction_id, second.transaction_id])
    assert not a.ok


def test_a_second_event_id_is_a_duplicate_and_two_approvals_a_double_charge() -> None:
    a = settled()
    p = next(iter(a.payments.values()))
    p.webhook_ids.add("evt_other")
    assert a.duplicate_webhook_events == 1 and not a.ok
    a = settled()
    p = next(iter(a.payments.values()))
    p.bank_approvals = p.bank_charges = 2
    assert a.double_charged == [p.transaction_id] and not a.ok


def test_a_charge_the_outcome_does_not_match_is_money_wrong_and_a_reversal_makes_it_right() -> None:
    a = settled()
    failed = next(t for t in a.payments.values() if t.status == "failed")
    failed.bank_approvals = failed.bank_charges = 1  # a late approval nothing reversed
    assert a.charged_not_succeeded == [failed.transaction_id] and not a.ok
    failed.bank_charges, failed.bank_reversals = 0, 1  # the gateway reversed it
    assert a.ok and a.reversals == 1
    ok = next(t for t in a.payments.values() if t.status == "succeeded")
    ok.bank_charges = 0  # approved and reversed, yet reported succeeded
    assert a.succeeded_not_charged == [ok.transaction_id] and not a.ok


def test_an_outcome_other_than_the_card_promises_is_wrong() -> None:
    a = settled()
    p = next(t for t in a.payments.values() if t.card == TEST_CARDS[0])
    p.status, p.reason = "declined", "card_declined"
    assert a.wrong_outcomes == [p] and not a.ok


def test_an_answer_against_the_contract_is_reported() -> None:
    a = settled()
    invalid = next(s for s in a.submissions if s.request.kind == "invalid")
    invalid.status = 500
    assert a.unexpected_answers == [invalid] and not a.ok


def test_a_replay_may_meet_its_original_still_in_flight_but_only_then() -> None:
    a = settled()
    replay = next(s for s in a.submissions if s.request.kind == "replay")
    key = replay.request.idempotency_key
    original = next(
        s for s in a.submissions if s.request.kind == "payment" and s.request.idempotency_key == key
    )
    replay.status, replay.transaction_id = 409, None
    original.seconds = replay.submitted_at - original.submitted_at + 1  # answered after it
    assert a.unexpected_answers == []
    original.seconds = 0.01  # answered long before: a 409 breaks the contract
    assert a.unexpected_answers == [replay]


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 50) is None
