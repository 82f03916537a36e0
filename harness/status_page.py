"""The status page (`harness up` serves it on 127.0.0.1:8090): the harness's processes and
the pipeline (harness/pipeline.py) and the dead letters by topic, condition and state
(harness/dlq.py) as a small HTML page that refreshes itself, and as JSON.

    GET /              the page
    GET /status.json   the same, for scripts
    GET /health        answers at once (readiness)
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any

import uvicorn
from confluent_kafka import KafkaException
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from common.domain.errors import TransientError
from harness import dlq, pipeline, stack
from harness.infra import manager
from harness.infra.settings import InfraSettings

REFRESH_S = 5
"""The page reloads itself this often; snapshots are shared for as long, so an open page (or
several) costs the databases one status read per period (counting by status is a collection
scan on FerretDB)."""


def snapshot(s: InfraSettings) -> dict[str, Any]:
    services = [
        {"name": st.name, "address": st.address, "state": st.state} for st in manager.status(s)
    ] + [
        {"name": c.process.name, "address": c.url or "", "state": state}
        for c, state in stack.status(s)
    ]
    snap = {"services": services, **pipeline.collect(s).as_json()}
    try:
        snap["deadLettersByReason"] = dlq.summary(s)
    except (KafkaException, TransientError) as exc:
        snap["deadLettersByReason"] = {}
        snap["errors"]["dead letters"] = str(exc)
    return snap


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(snap: dict[str, Any]) -> str:
    services = _table(
        ["service", "address", "state"],
        [[s["name"], s["address"], s["state"]] for s in snap["services"]],
    )
    topics = _table(
        ["topic", "partitions", "records", "read by", "lag"],
        [
            [t["name"], t["partitions"], t["endOffset"], t["consumer"] or "", t["lag"] or 0]
            for t in snap["topics"]
        ],
    )
    payments = _table(["payment status", "count"], [list(r) for r in snap["payments"].items()])
    deliveries = _table(["delivery status", "count"], [list(r) for r in snap["deliveries"].items()])
    b = snap["breaker"] or {}
    breaker = _table(
        ["bank circuit breaker", "calls in window", "failed", "opened at"],
        [
            [
                b.get("state", "?"),
                b.get("calls", "?"),
                b.get("failures", "?"),
                b.get("openedAt") or "",
            ]
        ],
    )
    dead = _table(
        ["dead letters: topic · condition · state", "count"],
        [list(r) for r in sorted(snap.get("deadLettersByReason", {}).items())],
    )
    errors = "".join(
        f"<p class=err>{html.escape(k)} not answering: {html.escape(v)}</p>"
        for k, v in snap["errors"].items()
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>paygate status</title>
<meta http-equiv="refresh" content="{REFRESH_S}">
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;
margin:0 2em 1.5em 0;display:inline-table;vertical-align:top}}td,th{{border:1px solid #ccc;
padding:3px 8px;text-align:left}}th{{background:#f3f3f3}}.err{{color:#b00}}</style></head>
<body><h1>paygate</h1>{errors}
<h2>services</h2>{services}
<h2>pipeline</h2>{topics}
<div>{payments}{deliveries}{breaker}</div>
<div>{dead}</div>
<p>dead letters: {snap["deadLetters"]} · refreshes every {REFRESH_S} s ·
<a href="/status.json">status.json</a></p></body></html>"""


class _SharedSnapshot:
    def __init__(self, s: InfraSettings, max_age_s: float) -> None:
        self._s, self._max_age_s = s, max_age_s
        self._lock = asyncio.Lock()
        self._at = -max_age_s
        self._snap: dict[str, Any] = {}

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            if time.monotonic() - self._at >= self._max_age_s:
                self._snap = await asyncio.to_thread(snapshot, self._s)
                self._at = time.monotonic()
            return self._snap


def create_status_app(s: InfraSettings, max_age_s: float = REFRESH_S) -> FastAPI:
    app = FastAPI(title="paygate status", docs_url=None, redoc_url=None, openapi_url=None)
    shared = _SharedSnapshot(s, max_age_s)

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/status.json")
    async def status_json() -> JSONResponse:
        return JSONResponse(await shared.get())

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(render_html(await shared.get()))

    return app


def serve(s: InfraSettings, host: str, port: int) -> None:
    uvicorn.run(create_status_app(s), host=host, port=port, log_level="warning", access_log=False)
