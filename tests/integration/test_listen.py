"""`python -m harness listen` as a subprocess, for a merchant of the real registry, forwarding
to a small local app that records what it got."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from common.webhook_signing import sign_webhook
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from harness.listen import HttpForward
from harness.template import REPO_ROOT

WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def listen_command(merchant_id: str, forward_to: str, port: int) -> list[str]:
    options = ["--merchant", merchant_id, "--forward-to", forward_to, "--port", str(port)]
    return [sys.executable, "-m", "harness", "listen", *options]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Target(ThreadingHTTPServer):
    """The merchant's local app: records each POST, answers `status`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TargetHandler)
        self.status = 200
        self.hang_s = 0.0
        self.received: list[Received] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webhook"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class TargetHandler(BaseHTTPRequestHandler):
    server: Target

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.received.append(Received(self.path, headers, body))
        time.sleep(self.server.hang_s)
        self.send_response(self.server.status)
        if 300 <= self.server.status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[Target]:
    app = Target()
    threading.Thread(target=app.serve_forever, daemon=True).start()
    yield app
    app.stop()


@dataclass
class Listener:
    process: subprocess.Popen[str]
    url: str
    secret: str
    lines: list[str] = field(default_factory=list)

    def post(self, body: bytes, secret: str | None = None, webhook_id: str = "evt_1") -> int:
        signed = sign_webhook(secret or self.secret, webhook_id, int(time.time()), body)
        headers = {**signed, "Content-Type": "application/json"}
        return requests.post(self.url, data=body, headers=headers, timeout=30).status_code

    def line_with(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} in {self.lines}")


@pytest.fixture
def listener(infra: InfraSettings, target: Target) -> Iterator[Listener]:
    shop = merchant_directory(infra).create("Listen test")
    port = free_port()
    process = subprocess.Popen(
        listen_command(shop.merchant_id, target.url, port),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Listener(process, f"http://127.0.0.1:{port}/hooks", shop.webhook_secret)
    threading.Thread(target=_read_lines, args=(running,), daemon=True).start()
    deadline = time.monotonic() + 30
    while not _answers(port):
        assert process.poll() is None, running.lines
        assert time.monotonic() < deadline, running.lines
        time.sleep(0.1)
    yield running
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)


def _read_lines(running: Listener) -> None:
    assert running.process.stdout is not None
    for line in running.process.stdout:
        running.lines.append(line)


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def event(transaction_id: str) -> bytes:
    return json.dumps(
        {
            "type": "payment.succeeded",
            "timestamp": "2026-12-02T12:40:06Z",
            "data": {"transactionId": transaction_id, "status": "succeeded"},
        },
        separators=(",", ":"),
    ).encode()


def test_a_signed_event_is_forwarded_as_it_came_and_answered_with_the_apps_status(
    listener: Listener, target: Target
) -> None:
    target.status = 202
    body = event("tx-listen-1")
    assert listener.post(body, webhook_id="evt_listen_1") == 202
    (got,) = target.received
    assert got.path == "/webhook" and got.body == body
    signed = sign_webhook(
        listener.secret, "evt_listen_1", int(got.headers["webhook-timestamp"]), body
    )
    assert {k: got.headers[k] for k in WEBHOOK_HEADERS} == signed
    assert got.headers["content-type"] == "application/json"
    line = listener.line_with("evt_listen_1")
    assert "payment.succeeded" in line and "tx-listen-1" in line
    assert " verified" in line and "NOT" not in line and "202" in line
    start = "".join(listener.lines[:2])
    assert listener.url in start and listener.secret not in start


def test_an_event_signed_with_another_secret_is_answered_401_and_not_forwarded(
    infra: InfraSettings, listener: Listener, target: Target
) -> None:
    other = merchant_directory(infra).create("Listen test, someone else")
    assert listener.post(event("tx-listen-2"), other.webhook_secret, "evt_listen_2") == 401
    assert target.received == []
    line = listener.line_with("evt_listen_2")
    assert "NOT verified" in line and "401" in line


@pytest.mark.parametrize("status", [500, 302])
def test_a_failing_or_redirecting_app_is_what_the_gateway_hears(
    listener: Listener, target: Target, status: int
) -> None:
    target.status = status
    assert listener.post(event("tx-listen-3"), webhook_id="evt_listen_3") == status
    assert [r.path for r in target.received] == ["/webhook"]  # a redirect is not followed
    assert str(status) in listener.line_with("evt_listen_3")


def test_an_app_that_is_down_is_answered_502(listener: Listener, target: Target) -> None:
    target.stop()
    assert listener.post(event("tx-listen-4"), webhook_id="evt_listen_4") == 502
    assert "502" in listener.line_with("evt_listen_4")


def test_ctrl_c_stops_it_cleanly(listener: Listener) -> None:
    listener.process.send_signal(signal.SIGINT)
    assert listener.process.wait(timeout=15) == 0
    assert not any("Traceback" in line for line in listener.lines), listener.lines


def test_an_app_that_does_not_answer_in_time_is_answered_504(target: Target) -> None:
    target.hang_s = 2.0
    answer = HttpForward(target.url, timeout_s=0.5)({"webhook-id": "evt_listen_5"}, b"{}")
    assert answer.status == 504 and answer.error == "no answer within 0.5 s"


def test_an_unknown_merchant_stops_it_at_start(infra: InfraSettings) -> None:
    done = subprocess.run(
        listen_command("mer_nobody", "http://127.0.0.1:9/", free_port()),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "no merchant mer_nobody" in done.stderr
