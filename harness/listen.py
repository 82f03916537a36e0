"""`python -m harness listen --merchant ID --forward-to URL`: the local twin of
`stripe listen --forward-to`.

    POST /hooks   verify with the merchant's secret (the receiver's check), print one line,
                  forward the exact body and its webhook-id, webhook-timestamp,
                  webhook-signature and content-type headers to URL, answer with its status

A delivery that does not verify is printed as such and answered 401, never forwarded. The
forward follows no redirect and waits FORWARD_TIMEOUT_S; a target that cannot be reached is
answered 502, one that does not answer in time 504, so the gateway retries as it would
against the app itself. The secret is read from the merchant registry and never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import urllib3
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from urllib3.exceptions import HTTPError, LocationParseError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from harness.keys import merchant_directory
from harness.receiver import Verification, WebhookVerifier

FORWARDED_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type")
FORWARD_TIMEOUT_S = 9.0
"""Under the gateway's 10 s (DESIGN.md §4), so a slow app's 504 reaches the gateway."""


@dataclass(frozen=True)
class Forwarded:
    status: int
    """The target's status, or the one answered for it: 502 unreachable, 504 too slow."""
    error: str | None = None


Forward = Callable[[Mapping[str, str], bytes], Forwarded]
Printer = Callable[[str], None]


class HttpForward:
    """POST to one URL: no redirects followed, no retries, no proxies from the environment."""

    def __init__(self, url: str, timeout_s: float = FORWARD_TIMEOUT_S) -> None:
        self._url = url
        self._timeout = urllib3.Timeout(total=timeout_s)
        self._pool = urllib3.PoolManager(retries=False)

    def __call__(self, headers: Mapping[str, str], body: bytes) -> Forwarded:
        try:
            response = self._pool.request(
                "POST",
                self._url,
                body=body,
                headers=dict(headers),
                timeout=self._timeout,
                redirect=False,
            )
        except NewConnectionError as exc:  # a subclass of urllib3's TimeoutError
            return Forwarded(502, f"unreachable: {exc.__context__ or exc}")
        except Urllib3TimeoutError:
            return Forwarded(504, f"no answer within {self._timeout.total:g} s")
        except (HTTPError, ValueError) as exc:  # ValueError: a URL urllib3 cannot use
            return Forwarded(502, f"unreachable: {type(exc).__name__}")
        return Forwarded(response.status)


def create_listen_app(
    verifier: WebhookVerifier, merchant_id: str, forward: Forward, printer: Printer
) -> FastAPI:
    app = FastAPI(title="harness listen", docs_url=None, redoc_url=None)

    @app.post("/hooks")
    async def hooks(request: Request) -> Response:
        body = await request.body()
        checked = verifier.verify(merchant_id, request.headers, body)
        webhook_id = request.headers.get("webhook-id", "-")
        if not checked.verified:
            printer(event_line(checked, webhook_id, f"401, not forwarded ({checked.reason})"))
            return Response(status_code=401)
        headers = {k: request.headers[k] for k in FORWARDED_HEADERS if k in request.headers}
        answer = await asyncio.to_thread(forward, headers, body)
        outcome = f"{answer.status}" + (f" ({answer.error})" if answer.error else "")
        printer(event_line(checked, webhook_id, outcome))
        return Response(status_code=answer.status)

    return app


def event_line(checked: Verification, webhook_id: str, outcome: str) -> str:
    verdict = "verified" if checked.verified else "NOT verified"
    return (
        f"{time.strftime('%H:%M:%S')}  {checked.event_type or '-':<18} "
        f"{checked.transaction_id or '-':<36}  {webhook_id}  {verdict:<12} --> {outcome}"
    )


def _is_http_url(url: str) -> bool:
    try:
        parsed = urllib3.util.parse_url(url)
    except LocationParseError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def listen(merchant_id: str, forward_to: str, host: str, port: int) -> int:
    if not _is_http_url(forward_to):
        sys.stderr.write(f"error: --forward-to needs an http(s) URL, not {forward_to!r}\n")
        return 2
    directory = merchant_directory()
    verifier = WebhookVerifier(directory.webhook_secret, lambda: [merchant_id])
    if not verifier.knows(merchant_id):
        sys.stderr.write(f"error: no merchant {merchant_id} (harness keys list)\n")
        return 1
    _print(
        f"Ready: webhooks of {merchant_id} are verified with its webhook secret (from the "
        f"merchant registry) and forwarded to {forward_to}\n"
        f'Send payments with "webhookUrl": "http://{host}:{port}/hooks". Ctrl-C stops.'
    )
    app = create_listen_app(verifier, merchant_id, HttpForward(forward_to), _print)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after shutdown
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
