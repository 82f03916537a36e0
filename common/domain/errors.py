"""Errors are classified, not matched by message: each layer raises one of these kinds.

- `DomainError`: the caller's input is wrong; maps to a 4xx through one table (intake).
- `TransientError`: a dependency failed in a way a retry may fix (503 at the edge, retry inside).
- `PermanentError`: retrying cannot help (a poison record: dead-letter it and move on).
Adapters translate library exceptions into these; nothing above them sees redis or kafka errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldProblem:
    field: str
    """Dotted path of the offending field, e.g. `card.number` (`` for the whole body)."""
    message: str


class DomainError(Exception):
    """Input the caller must change. `code` picks the HTTP status in the intake's table."""

    code = "invalid_request"

    def __init__(self, detail: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []


class ValidationFailedError(DomainError):
    code = "validation_failed"


class UnauthorizedError(DomainError):
    code = "unauthorized"


class NotFoundError(DomainError):
    code = "not_found"


class IdempotencyConflictError(DomainError):
    """Same Idempotency-Key while the first request with it is still in flight."""

    code = "idempotency_in_flight"


class IdempotencyMismatchError(DomainError):
    """Same Idempotency-Key with a different request body."""

    code = "idempotency_mismatch"


@dataclass
class TransientError(Exception):
    """A dependency is unavailable or timed out; retrying later may succeed."""

    dependency: str
    detail: str
    retry_after_s: int = 1
    extra: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.dependency} unavailable: {self.detail}"


@dataclass
class PublishInDoubtError(TransientError):
    """The broker did not acknowledge in time, yet may have kept the message ("possibly
    persisted"): whether the payment exists must be settled before anyone is answered."""


class PermanentError(Exception):
    """Retrying cannot help: malformed or schema-violating input from a trusted channel."""


class BankUnavailableError(Exception):
    """The bank gave no decision before the deadline; `breaker_open` says whether the last
    thing we saw was the breaker refusing the call."""

    def __init__(self, attempts: int, breaker_open: bool) -> None:
        super().__init__(f"no bank decision after {attempts} attempt(s)")
        self.attempts = attempts
        self.breaker_open = breaker_open
