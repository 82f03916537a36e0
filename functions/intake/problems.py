"""One table from error kinds to RFC 9457 problem responses (application/problem+json)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

from common.domain.errors import (
    DomainError,
    FieldProblem,
    IdempotencyConflictError,
    IdempotencyMismatchError,
    NotFoundError,
    PublishInDoubtError,
    TransientError,
    UnauthorizedError,
    ValidationFailedError,
)

PROBLEM_JSON = "application/problem+json"

_TABLE: dict[type[DomainError], tuple[int, str]] = {
    ValidationFailedError: (422, "Validation failed"),
    UnauthorizedError: (401, "Unauthorized"),
    NotFoundError: (404, "Not found"),
    IdempotencyConflictError: (409, "Request in progress"),
    IdempotencyMismatchError: (422, "Idempotency-Key reused"),
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    problems: Sequence[FieldProblem] = (),
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if problems:
        body["errors"] = [{"field": p.field, "message": p.message} for p in problems]
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def from_domain_error(exc: DomainError) -> Response:
    status, title = _TABLE.get(type(exc), (400, "Bad request"))
    headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if status == 401 else None
    return problem(status, exc.detail, exc.problems, title, headers)


def from_transient_error(exc: TransientError) -> Response:
    detail = (
        "the broker did not confirm this payment in time and the ledger could not be asked "
        "whether it was kept: it may still be processed. Retry with the same Idempotency-Key "
        "(the retry is the same payment, charged at most once)"
        if isinstance(exc, PublishInDoubtError)
        else f"a dependency ({exc.dependency}) is unavailable; nothing was accepted, retry later"
    )
    return problem(503, detail, headers={"Retry-After": str(exc.retry_after_s)})


def field_problems(errors: Iterable[Any]) -> list[FieldProblem]:
    """Pydantic errors → field problems (never echoing the input value)."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        out.append(FieldProblem(".".join(loc), str(err.get("msg", "invalid"))))
    return out
