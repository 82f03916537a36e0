"""What notify hands its sender: the addresses its delivery-time check passed (never a name
to look up again), and nothing at all when the check refuses the URL."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from chaos.rebinding import RebindingResolver, payment_processed
from common.domain.webhooks import DeliveryAttempt
from functions.notify.service import NotifyPolicy, NotifyService
from tests.fakes import FakePublisher, FakeSlowEndpoints, FakeWebhookDeliveries, FixedClock

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class RecordingSender:
    def __init__(self) -> None:
        self.dialed: list[tuple[str, tuple[str, ...]]] = []

    def send(
        self, url: str, addresses: Sequence[str], body: bytes, headers: dict[str, str]
    ) -> DeliveryAttempt:
        self.dialed.append((url, tuple(addresses)))
        return DeliveryAttempt(T0, 204, None, 1.0)


def service(
    sender: RecordingSender,
    resolve: Callable[[str], Sequence[str]],
    *,
    allow_private: bool = False,
    ports: frozenset[int] = frozenset({80, 443}),
) -> NotifyService:
    return NotifyService(
        deliveries=FakeWebhookDeliveries(),
        sender=sender,
        slow=FakeSlowEndpoints(),
        secret_of=lambda _m: "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        resolve=resolve,
        publisher=FakePublisher(),
        clock=FixedClock(),
        policy=NotifyPolicy(
            schedule=[5],
            allow_private_urls=allow_private,
            dead_letter_topic="webhooks.dlq",
            webhook_ports=ports,
        ),
    )


def attempt(svc: NotifyService, url: str) -> DeliveryAttempt:
    created = svc.accept(payment_processed(url))
    assert created is not None
    return svc.deliver(created).attempts[-1]


def test_the_sender_is_given_the_checked_address_not_a_name_to_resolve_again() -> None:
    sender, resolver = RecordingSender(), RebindingResolver(then="169.254.169.254")
    assert attempt(service(sender, resolver), "https://rebind.example/h").status_code == 204
    assert sender.dialed == [("https://rebind.example/h", ("93.184.216.34",))]
    assert resolver.lookups == 1  # a second lookup would have answered 169.254.169.254


def test_a_name_that_resolves_internal_at_delivery_is_refused_and_nothing_is_dialed() -> None:
    sender = RecordingSender()
    svc = service(sender, lambda _h: ["10.0.0.7"])
    assert attempt(svc, "https://shop.example/h").error == (
        "refused: webhookUrl must not point at a private, loopback, link-local or otherwise "
        "internal address"
    )
    assert sender.dialed == []


def test_a_port_outside_the_allowed_ones_is_refused_at_delivery() -> None:
    sender = RecordingSender()
    svc = service(sender, lambda _h: ["93.184.216.34"])
    error = attempt(svc, "https://shop.example:8443/h").error
    assert error == "refused: webhookUrl port must be one of 80, 443"
    assert sender.dialed == []


def test_configured_ports_and_local_development_are_dialed() -> None:
    sender = RecordingSender()
    configured = service(sender, lambda _h: ["93.184.216.34"], ports=frozenset({8443}))
    assert attempt(configured, "https://shop.example:8443/h").status_code == 204
    local = service(sender, lambda _h: ["127.0.0.1"], allow_private=True)
    assert attempt(local, "http://localhost:8082/hooks").status_code == 204
    assert [a for _u, a in sender.dialed] == [("93.184.216.34",), ("127.0.0.1",)]
