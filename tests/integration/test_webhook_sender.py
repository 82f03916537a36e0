"""HttpWebhookSender against a real HTTP/1.1 server on loopback: keep-alive reuse, redirects not
followed, a huge answer not read, a silent endpoint cut off by the time limit."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from common.adapters.http_webhook_sender import HttpWebhookSender


class Endpoint(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: ClassVar[set[tuple[str, int]]] = set()

    def do_POST(self) -> None:
        Endpoint.connections.add(self.client_address)
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/redirect":
            self._answer(302, b"", {"Location": "http://127.0.0.1:1/elsewhere"})
        elif self.path == "/huge":
            self._answer(200, b"x" * (8 * 1024 * 1024))
        elif self.path == "/silent":
            time.sleep(3)
            self._answer(204, b"")
        elif self.path == "/no-content":
            self._answer(204, b"", length=False)  # no Content-Length: a 204 has no body
        else:
            self._answer(200, b'{"ok":true}')

    def _answer(
        self, code: int, body: bytes, headers: dict[str, str] | None = None, length: bool = True
    ) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the sender hangs up on a huge answer
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Endpoint.connections = set()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_answers_are_read_so_the_connection_is_reused(endpoint: str) -> None:
    sender = HttpWebhookSender(timeout_s=2)
    for path in ("/hook", "/no-content", "/hook"):
        assert sender.send(f"{endpoint}{path}", b"{}", {"webhook-id": "evt_1"}).succeeded
    assert len(Endpoint.connections) == 1


def test_a_redirect_is_an_answer_not_followed(endpoint: str) -> None:
    attempt = HttpWebhookSender(timeout_s=2).send(f"{endpoint}/redirect", b"{}", {})
    assert attempt.status_code == 302 and not attempt.succeeded


def test_a_huge_answer_is_not_read(endpoint: str) -> None:
    started = time.monotonic()
    attempt = HttpWebhookSender(timeout_s=2).send(f"{endpoint}/huge", b"{}", {})
    assert attempt.status_code == 200 and time.monotonic() - started < 1


def test_a_silent_endpoint_is_a_timeout(endpoint: str) -> None:
    attempt = HttpWebhookSender(timeout_s=0.5).send(f"{endpoint}/silent", b"{}", {})
    assert (attempt.status_code, attempt.error) == (None, "timeout")
    assert attempt.latency_ms < 1500
