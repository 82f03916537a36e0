"""The dashboard's routes (served by the harness on the status port, never deployed).

    GET  /                                  overview, refreshing itself
    GET  /payments?status=&q=&page=         newest first, 50 a page
    GET  /payments/{transactionId}          the payment, its timeline and its webhook
    POST /payments/{transactionId}/webhook/resend   the resend API's use case
    GET  /dead-letters                      by topic and reason, each with a redrive button
    POST /dead-letters/redrive              (form field `position`) harness/dlq.py's redrive
    GET  /status.json                       the status snapshot, for scripts
    GET  /health                            answers at once (readiness)

A POST acts only when same_origin.py allows it, and answers with a redirect to the page it
came from (POST, redirect, GET), naming the outcome by a code the page knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from common.domain.errors import IdempotencyConflictError, NotFoundError, TransientError
from harness.dashboard import same_origin, views
from harness.dashboard.data import DashboardData, Overview
from harness.dashboard.payment_list import parse_query
from harness.dashboard.runtime import DashboardRuntime
from harness.dashboard.status import Shared
from harness.infra.settings import InfraSettings

_HEADERS = {
    "Content-Security-Policy": views.CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=_HEADERS)


def create_dashboard_app(s: InfraSettings, max_age_s: float = views.REFRESH_S) -> FastAPI:
    runtime = DashboardRuntime(s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.close()

    app = FastAPI(
        title="paygate dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    data = DashboardData(runtime)

    async def read_status() -> dict[str, Any]:
        return await asyncio.to_thread(data.status)

    async def read_overview() -> Overview:
        return await asyncio.to_thread(data.overview, await status.get())

    status = Shared(read_status, max_age_s)
    overview = Shared(read_overview, max_age_s)

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/status.json")
    async def status_json() -> JSONResponse:
        return JSONResponse(await status.get())

    @app.get("/", response_class=HTMLResponse)
    async def overview_page() -> HTMLResponse:
        return _html(views.overview_page(await overview.get()))

    @app.get("/payments", response_class=HTMLResponse)
    def payments(
        status: str | None = None, q: str | None = None, page: str | None = None
    ) -> HTMLResponse:
        return _html(views.payments_page(data.payments(parse_query(status, q, page))))

    @app.get("/payments/{transaction_id}", response_class=HTMLResponse)
    def payment(transaction_id: str, resend: str | None = None) -> HTMLResponse:
        detail = data.payment(transaction_id)
        if detail is None:
            return _html(views.not_found_page("No such payment."), 404)
        return _html(views.payment_page(detail, resend))

    @app.post("/payments/{transaction_id}/webhook/resend")
    def resend(transaction_id: str, request: Request) -> Response:
        refused = _refusal(request)
        if refused:
            return _html(views.refused_page(refused), 403)
        try:
            data.resend(transaction_id)
            code = "scheduled"
        except IdempotencyConflictError:
            code = "no-webhook"
        except NotFoundError:
            code = "not-found"
        target = f"/payments/{quote(transaction_id, safe='')}?resend={code}"
        return RedirectResponse(target, status_code=303)

    @app.get("/dead-letters", response_class=HTMLResponse)
    def dead_letters(redrive: str | None = None) -> HTMLResponse:
        return _html(views.dead_letters_page(data.dead_letters(), redrive))

    @app.post("/dead-letters/redrive")
    async def redrive(request: Request) -> Response:
        refused = _refusal(request)
        if refused:
            return _html(views.refused_page(refused), 403)
        form = parse_qs((await request.body()).decode(errors="replace"))
        position = (form.get("position") or [""])[0]
        outcome = await asyncio.to_thread(data.redrive, position)
        code = "unknown" if outcome.unknown or not outcome.chosen else "sent"
        if outcome.unsent:
            code = "unsent"
        return RedirectResponse(f"/dead-letters?redrive={code}", status_code=303)

    @app.exception_handler(TransientError)
    async def not_answering(_r: Request, exc: TransientError) -> Response:
        return _html(views.refused_page(f"not answering: {exc}"), 503)

    return app


def _refusal(request: Request) -> str | None:
    h = request.headers
    return same_origin.refusal(
        request.client.host if request.client else None,
        h.get("host"),
        h.get("origin"),
        h.get("referer"),
    )
