"""One row per scenario, and the table the suite prints at the end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Row:
    number: int
    name: str
    load: str
    fault: str
    accepted: int = 0
    lost: int = 0
    double_charged: int = 0
    charged_not_succeeded: int = 0
    succeeded_not_charged: int = 0
    reversals: int = 0
    duplicate_webhooks: int = 0
    recover_s: float | None = None
    """From lifting the fault until the last payment accepted before it had its verified
    webhook (or, for faults with nothing to lift, until everything settled)."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self, condition: bool, problem: str) -> None:
        """Record `problem` unless `condition` holds."""
        if not condition:
            self.problems.append(problem)


_HEADERS = (
    "#",
    "scenario",
    "load",
    "fault",
    "accepted",
    "lost",
    "double-charged",
    "charged, not succeeded",
    "succeeded, not charged",
    "reversals",
    "dup. webhook events",
    "recover",
    "result",
)


def _cells(row: Row) -> tuple[str, ...]:
    return (
        str(row.number),
        row.name,
        row.load,
        row.fault,
        str(row.accepted),
        str(row.lost),
        str(row.double_charged),
        str(row.charged_not_succeeded),
        str(row.succeeded_not_charged),
        str(row.reversals),
        str(row.duplicate_webhooks),
        "-" if row.recover_s is None else f"{row.recover_s:.1f} s",
        "PASS" if row.ok else "FAIL",
    )


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (it reads as plain text too), then each row's problems and notes."""
    lines = ["| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in sorted(rows, key=lambda r: r.number)]
    for r in sorted(rows, key=lambda r: r.number):
        for problem in r.problems:
            lines.append(f"  {r.number}. FAIL: {problem}")
        for note in r.notes:
            lines.append(f"  {r.number}. {note}")
    return "\n".join(lines)
