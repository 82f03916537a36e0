"""The intake HTTP API (DESIGN.md §3) as a FastAPI app, built around injected dependencies.

The app holds no clients: `create_app(deps)` takes a provider that builds them lazily on
first use (functions/intake/deps.py in production, fakes in unit tests).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from decimal import Decimal
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.domain.errors import (
    DomainError,
    FieldProblem,
    TransientError,
    UnauthorizedError,
    ValidationFailedError,
)
from common.domain.payment import PaymentRecord
from common.domain.payment_view import PaymentView
from common.domain.ports import Merchant, MerchantDirectory
from common.domain.webhooks import Delivery
from functions.intake import problems
from functions.intake.schemas import (
    Health,
    PaymentAccepted,
    PaymentOut,
    PaymentRequestIn,
    Problem,
    ResendAccepted,
    WebhookOut,
)
from functions.intake.service import IntakeService

log = logging.getLogger("paygate.intake")

MAX_BODY_BYTES = 64 * 1024
MAX_IDEMPOTENCY_KEY = 255


class IntakeDeps(Protocol):
    def service(self) -> IntakeService: ...

    def directory(self) -> MerchantDirectory: ...

    def health(self) -> dict[str, str]: ...


def create_app(deps: IntakeDeps) -> FastAPI:
    app = FastAPI(
        title="paygate intake",
        version="1.0.0",
        description="Accepts payments (202 once durable on Kafka) and reads them back.",
        docs_url=None,
        redoc_url=None,
    )
    _install_error_handlers(app)
    _install_access_log(app)
    _install_routes(app, deps)
    _install_openapi(app)
    return app


# ---------------------------------------------------------------- routes

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {problems.PROBLEM_JSON: {}}}
    for code in (401, 404, 409, 413, 415, 422, 503)
}


_API_KEY_PARAM = {
    "name": "X-API-Key",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
}


_ACCEPTED_LINKS = {
    "GetPayment": {
        "operationId": "getPayment",
        "parameters": {"transactionId": "$response.body#/transactionId"},
        "description": "The payment just accepted, read back (pending, then final).",
    },
    "ResendWebhook": {
        "operationId": "resendWebhook",
        "parameters": {"transactionId": "$response.body#/transactionId"},
        "description": "Its webhook event, sent again once the payment is final.",
    },
}
"""OpenAPI links from an accepted payment to the operations on it (clients' generators and
schemathesis' stateful phase follow them)."""


def _check_transaction_id(transaction_id: str) -> None:
    if len(transaction_id) > 64:
        raise ValidationFailedError(
            "transactionId is too long", [FieldProblem("transactionId", "at most 64 characters")]
        )


def _install_routes(app: FastAPI, deps: IntakeDeps) -> None:
    @app.post(
        "/api/payments",
        status_code=202,
        response_model=PaymentAccepted,
        responses={
            **_ERRORS,
            202: {
                "description": "Accepted: durable on Kafka, authorized in the background; "
                "the outcome comes by webhook",
                "links": _ACCEPTED_LINKS,
            },
        },
        operation_id="createPayment",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/PaymentRequestIn"}
                    }
                },
            },
            "parameters": [
                _API_KEY_PARAM,
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
                },
            ],
        },
    )
    async def create_payment(request: Request) -> Response:
        # On the event loop throughout: Redis through redis.asyncio, Kafka's acknowledgment
        # as a future; a thread only for what rarely happens (a key or a host not cached).
        return await _create_payment(deps, request)

    @app.get(
        "/api/payments/{transactionId}",
        response_model=PaymentOut,
        responses=_ERRORS,
        operation_id="getPayment",
        openapi_extra={"parameters": [_API_KEY_PARAM]},
    )
    def get_payment(transactionId: str, request: Request) -> PaymentOut:
        merchant = _authenticate(deps, request)
        _check_transaction_id(transactionId)
        return payment_out(*deps.service().get(merchant, transactionId))

    @app.post(
        "/api/payments/{transactionId}/webhook/resend",
        status_code=202,
        response_model=ResendAccepted,
        responses=_ERRORS,
        operation_id="resendWebhook",
        openapi_extra={"parameters": [_API_KEY_PARAM]},
    )
    def resend_webhook(transactionId: str, request: Request) -> JSONResponse:
        merchant = _authenticate(deps, request)
        _check_transaction_id(transactionId)
        delivery = deps.service().resend_webhook(merchant, transactionId)
        body = ResendAccepted(
            webhook_id=delivery.webhook_id,
            status=delivery.status.value,
            next_attempt_at=delivery.next_attempt_at,
        )
        return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=202)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health() -> JSONResponse:
        deps_status = deps.health()
        ok = all(v == "ok" for v in deps_status.values())
        body = Health(status="ok" if ok else "degraded", dependencies=deps_status)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


async def _create_payment(deps: IntakeDeps, request: Request) -> Response:
    """In order: 401, 415, 413, 422 (headers, then body), then accept (409/422/503/202)."""
    merchant = await _authenticate_async(deps, request)
    _require_json(request)
    body = await _read_body(request)  # stops reading past the limit
    if body is None:
        raise _PayloadTooLargeError
    idempotency_key = _idempotency_key(request)
    try:
        payment = PaymentRequestIn.model_validate_json(body)
    except ValidationError as exc:
        raise ValidationFailedError(
            "the payment request is invalid",
            problems.field_problems(exc.errors(include_input=False, include_url=False)),
        ) from None
    if isinstance(payment.amount, float):
        payment = payment.model_copy(update={"amount": exact_amount(body)})
    accepted = await deps.service().accept(merchant, payment, idempotency_key, _request_id(request))
    stored = accepted.response
    headers = {"Idempotent-Replayed": "true"} if accepted.replayed else {}
    if stored.location:
        headers["Location"] = stored.location
    return Response(stored.body, stored.status_code, headers, media_type="application/json")


def exact_amount(body: bytes) -> str:
    """A JSON-number amount exactly as the merchant wrote it, as a plain decimal string: the
    JSON parser hands a number over as a binary float, which turns 19.9999999999999999 into
    20.0 (accepted as 20.00 instead of refused for its decimal places). Called only for a
    body already validated, whose `amount` is a number."""
    try:
        amount = json.loads(body, parse_float=Decimal)["amount"]
        return format(amount, "f")
    except (ValueError, TypeError, KeyError):  # a body the two parsers read differently
        raise ValidationFailedError(
            "the payment request is invalid",
            [FieldProblem("amount", 'send the amount as a decimal string like "49.99"')],
        ) from None


def payment_out(record: PaymentRecord, delivery: Delivery | None = None) -> PaymentOut:
    return PaymentOut.model_validate(
        {
            **PaymentView.fields_of(record),
            "webhook": _webhook_out(delivery) if delivery else None,
        }
    )


def _webhook_out(d: Delivery) -> WebhookOut:
    last = d.attempts[-1] if d.attempts else None
    return WebhookOut(
        webhook_id=d.webhook_id,
        status=d.status.value,
        attempts=len(d.attempts),
        last_response_code=last.status_code if last else None,
        last_error=last.error if last else None,
        next_attempt_at=d.next_attempt_at,
    )


# ---------------------------------------------------------------- request steps


class _PayloadTooLargeError(Exception):
    pass


class _UnsupportedMediaTypeError(Exception):
    pass


def _require_json(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise _UnsupportedMediaTypeError


def _authenticate(deps: IntakeDeps, request: Request) -> Merchant:
    return _authenticated(request, deps.directory().authenticate(_api_key(request)))


async def _authenticate_async(deps: IntakeDeps, request: Request) -> Merchant:
    """From the directory's in-process cache when it remembers the key; else its lookup,
    in a worker thread (once per key every few seconds)."""
    api_key = _api_key(request)
    directory = deps.directory()
    known, merchant = directory.remembered(api_key)
    if not known:
        merchant = await run_in_threadpool(directory.authenticate, api_key)
    return _authenticated(request, merchant)


def _api_key(request: Request) -> str:
    api_key = request.headers.get("x-api-key")
    if not api_key:
        raise UnauthorizedError("missing X-API-Key header")
    return api_key


def _authenticated(request: Request, merchant: Merchant | None) -> Merchant:
    if merchant is None:
        raise UnauthorizedError("unknown or revoked API key")
    request.state.merchant_id = merchant.merchant_id
    return merchant


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is (or declares to be) over the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not all(0x20 < ord(c) < 0x7F for c in key):
        raise ValidationFailedError(
            "invalid Idempotency-Key header",
            [FieldProblem("Idempotency-Key", "1 to 255 printable ASCII characters, no spaces")],
        )
    return key


def _request_id(request: Request) -> str:
    rid: str = getattr(request.state, "request_id", "") or str(uuid.uuid4())
    return rid


# ---------------------------------------------------------------- errors and logging


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_r: Request, exc: DomainError) -> Response:
        return problems.from_domain_error(exc)

    @app.exception_handler(TransientError)
    async def transient_error(_r: Request, exc: TransientError) -> Response:
        log.warning(
            "dependency unavailable", extra={"dependency": exc.dependency, "reason": exc.detail}
        )
        return problems.from_transient_error(exc)

    @app.exception_handler(_PayloadTooLargeError)
    async def too_large(_r: Request, _exc: Exception) -> Response:
        return problems.problem(413, f"the body must be at most {MAX_BODY_BYTES} bytes")

    @app.exception_handler(_UnsupportedMediaTypeError)
    async def not_json(_r: Request, _exc: Exception) -> Response:
        return problems.problem(415, "the body must be JSON (Content-Type: application/json)")

    @app.exception_handler(RequestValidationError)
    async def invalid(_r: Request, exc: RequestValidationError) -> Response:
        return problems.problem(
            422, "the request is invalid", problems.field_problems(exc.errors())
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers) if exc.headers else None
        return problems.problem(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_r: Request, exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)
        return problems.problem(500, "unexpected error; it has been logged")


def _install_access_log(app: FastAPI) -> None:
    app.add_middleware(AccessLog)


class AccessLog:
    """One JSON log line per request and an X-Request-Id on every response (plain ASGI:
    Starlette's BaseHTTPMiddleware costs more than the rest of a request here)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        aws_event = scope.get("aws.event") or {}
        request_id = (aws_event.get("requestContext") or {}).get("requestId") or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"][:200],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "requestId": request_id,
                    "merchantId": state.get("merchant_id"),
                },
            )


def _install_openapi(app: FastAPI) -> None:
    """Add the request model (parsed by hand for error order) to the OpenAPI components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        request_schema = PaymentRequestIn.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(request_schema.pop("$defs", {}))
        components["PaymentRequestIn"] = request_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
