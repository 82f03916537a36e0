"""A payment's timeline, from its public view (common/domain/payment_view.py): requested,
claimed, each bank attempt, the outcome, the reversal. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.domain.payment import PaymentStatus
from common.domain.payment_view import PaymentView

_STEP = {
    PaymentStatus.PENDING: "requested",
    PaymentStatus.PROCESSING: "claimed by processing",
}


@dataclass(frozen=True)
class Step:
    at: datetime
    what: str
    detail: str = ""


def timeline(view: PaymentView) -> list[Step]:
    """The payment's steps, oldest first."""
    steps = []
    for h in view.history:
        detail = ""
        if h.status.terminal:
            detail = ", ".join(x for x in (view.decline_code, view.failure_reason) if x)
        steps.append(Step(h.at, _STEP.get(h.status, f"outcome: {h.status}"), detail))
    for n, a in enumerate(view.bank_attempts, start=1):
        detail = f"{a.result} in {a.latency_ms:.0f} ms" + (f" ({a.detail})" if a.detail else "")
        steps.append(Step(a.at, f"bank attempt {n}", detail))
    if view.reversal is not None:
        r = view.reversal
        steps.append(Step(r.requested_at, "reversal sent to the bank", r.reason))
        if r.acknowledged_at is not None:
            steps.append(Step(r.acknowledged_at, "reversal acknowledged by the bank"))
    return sorted(steps, key=lambda s: s.at)
