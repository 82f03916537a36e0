"""DNS rebinding against the real sender (issue 16): a merchant's name answers a public address
to notify's delivery-time check and loopback to any later lookup (a resolver of the test's own;
the system's resolver answers loopback too), while a server listens on loopback. The attempt
dials the checked address only: the loopback server never sees a request, and the attempt ends
within the deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from chaos.rebinding import RebindingResolver, payment_processed
from common.adapters.http_webhook_sender import HttpWebhookSender
from functions.notify.service import NotifyPolicy, NotifyService
from tests.fakes import FakePublisher, FakeSlowEndpoints, FakeWebhookDeliveries, FixedClock


class Loopback(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        Loopback.seen.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[int]:
    Loopback.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Loopback)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def test_a_name_rebound_to_loopback_after_the_check_is_never_dialed_there(loopback: int) -> None:
    resolver = RebindingResolver(then="127.0.0.1")
    service = NotifyService(
        deliveries=FakeWebhookDeliveries(),
        sender=HttpWebhookSender(timeout_s=1.0),
        slow=FakeSlowEndpoints(),
        secret_of=lambda _m: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        resolve=resolver,
        publisher=FakePublisher(),
        clock=FixedClock(),
        policy=NotifyPolicy(
            schedule=[5],
            allow_private_urls=False,
            dead_letter_topic="webhooks.dlq",
            webhook_ports=frozenset({loopback}),
        ),
    )
    # `localhost`: any lookup but the check's own (the system's, a second one by the sender)
    # answers loopback, where the server listens; only the pinned dial keeps away from it
    created = service.accept(payment_processed(f"http://localhost:{loopback}/hooks"))
    assert created is not None
    started = time.monotonic()
    attempt = service.deliver(created).attempts[-1]
    assert time.monotonic() - started < 3.0
    assert attempt.status_code is None and attempt.error  # the public address did not answer
    assert Loopback.seen == []  # loopback, where a second lookup pointed, saw nothing
    assert resolver.lookups == 1
