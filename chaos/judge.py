"""The audit every load scenario ends with, turned into the row's numbers and problems."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from chaos.context import Chaos
from chaos.load import Load, recovery_s, stuck
from chaos.report import Row
from common.domain.webhooks import webhook_id
from harness.audit import Audit, PaymentTrace
from harness.traffic import Submission

NEVER_ANSWERS = "4000000000000259"


def policy_failure(p: PaymentTrace) -> bool:
    """`failed bank_unavailable` with no approval at the bank: the retry budget (counted from
    the claim, redeliveries included) ran out while the fault held the payment up."""
    return p.outcome == "failed bank_unavailable" and p.bank_charges == 0


def late_approval(p: PaymentTrace) -> bool:
    """The late-approval card is approved by the bank 30 s after the call; a fault that held
    the payment up past that (so it was never given up and reversed) gets the approval:
    `succeeded` with its one charge is then right."""
    return (
        p.card is not None
        and p.card.number == NEVER_ANSWERS
        and p.status == "succeeded"
        and p.bank_charges == 1
    )


def _disagrees_with_bank(p: PaymentTrace) -> bool:
    """Succeeded without exactly one charge (approved, not reversed), or declined/failed with
    one (money taken from a shopper told to pay again)."""
    if p.status == "succeeded":
        return p.bank_charges != 1
    if p.status in ("declined", "failed"):
        return p.bank_charges != 0
    return False


def _short(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" … (+{len(items) - n})" if len(items) > n else "")


def judge(  # noqa: PLR0917
    row: Row,
    chaos: Chaos,
    loads: list[Load],
    results: list[Audit],
    lifted_at: float | None,
    answer_ok: Callable[[Submission], bool] = lambda _s: False,
    outcome_ok: Callable[[PaymentTrace], bool] = lambda _p: False,
    scan_leaks: bool = True,
) -> None:
    """Fill the row from the audits: lost, double-charged, duplicate events, answers the
    contract does not allow (unless `answer_ok` says the fault explains them), outcomes other
    than the test card promises (unless `outcome_ok`; `failed bank_unavailable` without an
    approval at the bank is always the policy's answer to a bank decision that came too
    late, and is counted in the notes), outcomes that disagree with the bank's approvals,
    stuck payments, leaked secrets."""
    row.load = " + ".join(load.label for load in loads)
    row.accepted = sum(r.accepted for r in results)
    row.lost = sum(len(r.lost) for r in results)
    row.double_charged = sum(len(r.double_charged) for r in results)
    row.charged_not_succeeded = sum(len(r.charged_not_succeeded) for r in results)
    row.succeeded_not_charged = sum(len(r.succeeded_not_charged) for r in results)
    row.reversals = sum(r.reversals for r in results)
    row.duplicate_webhooks = sum(r.duplicate_webhook_events for r in results)
    if lifted_at is not None:
        times = [t for r in results if (t := recovery_s(r, lifted_at)) is not None]
        row.recover_s = max(times) if times else None
    row.check(row.accepted > 0, "no payment was accepted")
    for r in results:
        lost = [f"{tx[:8]} {r.payments[tx].outcome}" for tx in r.lost]
        row.check(not r.lost, f"lost (not terminal or no verified webhook): {_short(lost)}")
        row.check(not r.double_charged, f"double charged: {_short(r.double_charged)}")
        row.check(
            not r.charged_not_succeeded,
            f"charged but not succeeded: {_short(r.charged_not_succeeded)}",
        )
        row.check(
            not r.succeeded_not_charged,
            f"succeeded but not charged: {_short(r.succeeded_not_charged)}",
        )
        row.check(
            not r.duplicate_webhook_events,
            f"{r.duplicate_webhook_events} duplicate webhook events (distinct webhook-ids)",
        )
        row.check(r.unverified_deliveries == 0, f"{r.unverified_deliveries} unverified webhooks")
        bad = Counter(
            f"{s.request.label} → {s.status} {s.problem or ''}".strip()
            for s in r.unexpected_answers
            if not answer_ok(s)
        )
        row.check(not bad, f"answers the contract does not allow: {dict(bad)}")
        wrong = Counter(
            f"{p.expected} → {p.outcome}"
            for p in r.wrong_outcomes
            if not (outcome_ok(p) or late_approval(p) or policy_failure(p))
        )
        row.check(not wrong, f"wrong outcomes: {dict(wrong)}")
        allowed = Counter(
            f"{p.expected} → {p.outcome}"
            for p in r.wrong_outcomes
            if outcome_ok(p) or late_approval(p) or policy_failure(p)
        )
        if allowed:
            row.notes.append(f"outcomes other than the card's, explained: {dict(allowed)}")
        against = [tx[:8] for tx, p in r.payments.items() if _disagrees_with_bank(p)]
        row.check(not against, f"outcome disagrees with the bank's approvals: {_short(against)}")
        foreign = [tx for tx, p in r.payments.items() if p.webhook_ids - {webhook_id(tx)}]
        row.check(not foreign, f"webhook-ids not derived from the payment: {_short(foreign)}")
        row.notes.append(f"outcomes {dict(r.outcomes)}; webhook retries seen {r.webhook_retries}")
    stuck_ids = stuck(chaos.stack, [load.merchant.merchant_id for load in loads])
    row.check(not stuck_ids, f"stuck pending/processing: {_short(stuck_ids)}")
    if scan_leaks:
        found = chaos.leaks()
        row.check(not found, f"card numbers or API keys at rest: {_short(found)}")
