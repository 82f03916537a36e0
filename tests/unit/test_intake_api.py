"""The intake API with fakes behind its ports: the HTTP contract of DESIGN.md §3."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.adapters.dns_resolver import CachedResolver
from common.domain.errors import TransientError
from common.domain.events import PaymentRequested
from common.domain.payment import PaymentStatus
from common.domain.ports import Merchant
from common.domain.webhooks import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    after_attempt,
    webhook_id,
)
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox
from functions.intake.app import create_app
from functions.intake.service import IntakePolicy, IntakeService
from tests.fakes import (
    FakeIntakeRecords,
    FakeMerchantDirectory,
    FakePaymentLedger,
    FakePaymentReader,
    FakePublisher,
    FakeWebhookDeliveries,
    FixedClock,
)

KEY_A = "pgk_merchant-a-key-0000000000000000000000000"
KEY_B = "pgk_merchant-b-key-0000000000000000000000000"
PAN = "4242424242424242"


def resolve(host: str) -> Sequence[str]:
    if host == "shop.example":
        return ["93.184.216.34"]
    raise OSError("unknown host")


class Deps:
    def __init__(self) -> None:
        self.publisher = FakePublisher()
        self.records = FakeIntakeRecords()
        self.ledger = FakePaymentLedger()
        self.reader = FakePaymentReader()
        self.deliveries = FakeWebhookDeliveries()
        self.merchants = FakeMerchantDirectory()
        self.merchants.add(KEY_A, Merchant("mer_a", "Shop A"))
        self.merchants.add(KEY_B, Merchant("mer_b", "Shop B"))
        self.vault = CardVault(SealedBox(bytes(32)), KeyedHasher(bytes(32)))
        self._service = IntakeService(
            publisher=self.publisher,
            records=self.records,
            fence=self.ledger,
            pending=self.records,
            reader=self.reader,
            deliveries=self.deliveries,
            vault=self.vault,
            hasher=KeyedHasher(bytes(32)),
            resolve=CachedResolver(resolve),
            clock=FixedClock(),
            policy=IntakePolicy("payments.requested", allow_private_webhook_urls=False),
        )
        self.health_status = {"kafka": "ok", "redis": "ok", "mongodb": "ok"}

    def service(self) -> IntakeService:
        return self._service

    def directory(self) -> FakeMerchantDirectory:
        return self.merchants

    def health(self) -> dict[str, str]:
        return self.health_status


@pytest.fixture
def deps() -> Deps:
    return Deps()


@pytest.fixture
def client(deps: Deps) -> Iterator[TestClient]:
    with TestClient(create_app(deps), raise_server_exceptions=False) as c:
        yield c


def body(**overrides: Any) -> dict[str, Any]:
    payment: dict[str, Any] = {
        "amount": "49.99",
        "currency": "EUR",
        "webhookUrl": "https://shop.example/hooks/payments",
        "reference": "order-1234",
        "description": "2 books",
        "card": {
            "number": PAN,
            "expMonth": 12,
            "expYear": 2030,
            "cvc": "123",
            "holderName": "A. Buyer",
        },
        "metadata": {"cartId": "c-77"},
    }
    payment.update(overrides)
    return payment


def post(client: TestClient, payload: Any = None, key: str = KEY_A, **headers: str) -> Any:
    h = {"X-API-Key": key, "Content-Type": "application/json", **headers}
    if payload is None:
        payload = body()
    data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.post("/api/payments", content=data, headers=h)


def test_accepts_a_payment_and_publishes_one_tokenized_event(
    client: TestClient, deps: Deps
) -> None:
    r = post(client)
    assert r.status_code == 202
    out = r.json()
    assert out["status"] == "pending" and out["amount"] == "49.99" and out["currency"] == "EUR"
    assert out["reference"] == "order-1234" and out["createdAt"].startswith("2026-11-26T12:00")
    assert r.headers["location"] == f"/api/payments/{out['transactionId']}"
    assert len(deps.publisher.sent) == 1
    sent = deps.publisher.sent[0]
    assert sent.topic == "payments.requested" and sent.key == out["transactionId"]
    event = json.loads(sent.value)
    assert event["eventType"] == "PaymentRequested" and event["amountMinor"] == 4999
    assert event["card"]["last4"] == "4242" and event["card"]["brand"] == "visa"
    assert deps.vault.reveal(event["card"]["token"], out["transactionId"]) == PAN
    assert PAN.encode() not in sent.value and b"123" not in json.dumps(event["card"]).encode()
    assert dict(sent.headers)["eventType"] == b"PaymentRequested"


def test_get_is_pending_at_once_and_scoped_to_its_merchant(client: TestClient) -> None:
    tx = post(client).json()["transactionId"]
    mine = client.get(f"/api/payments/{tx}", headers={"X-API-Key": KEY_A})
    assert mine.status_code == 200
    assert mine.json()["status"] == "pending"
    assert mine.json()["card"] == {
        "brand": "visa",
        "last4": "4242",
        "expMonth": 12,
        "expYear": 2030,
    }
    assert PAN not in mine.text
    theirs = client.get(f"/api/payments/{tx}", headers={"X-API-Key": KEY_B})
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"


def test_idempotent_replay_conflict_and_mismatch(client: TestClient, deps: Deps) -> None:
    first = post(client, **{"Idempotency-Key": "order-1234-try"})
    again = post(client, **{"Idempotency-Key": "order-1234-try"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(deps.publisher.sent) == 1

    different = post(client, body(amount="50.00"), **{"Idempotency-Key": "order-1234-try"})
    assert different.status_code == 422
    assert "different request body" in different.json()["detail"]

    other_merchant = post(client, key=KEY_B, **{"Idempotency-Key": "order-1234-try"})
    assert other_merchant.status_code == 202
    assert other_merchant.json()["transactionId"] != first.json()["transactionId"]

    deps.records.keys[("mer_a", "in-flight")] = ("whatever", None)  # someone else holds it
    assert post(client, **{"Idempotency-Key": "in-flight"}).status_code in (409, 422)


def test_in_flight_key_with_same_body_is_409(client: TestClient, deps: Deps) -> None:
    # Learn the request digest by completing a first request, then mark it in flight again.
    post(client, **{"Idempotency-Key": "k1"})
    ((stored_hash, _),) = [v for k, v in deps.records.keys.items() if k[1] == "k1"]
    deps.records.keys[("mer_a", "k2")] = (stored_hash, None)
    r = post(client, **{"Idempotency-Key": "k2"})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"


def test_kafka_down_is_503_with_retry_after_and_frees_the_key(
    client: TestClient, deps: Deps
) -> None:
    deps.publisher.down = True
    r = post(client, **{"Idempotency-Key": "retry-me"})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    assert r.headers["content-type"] == "application/problem+json"
    assert deps.records.records == {}
    deps.publisher.down = False
    assert post(client, **{"Idempotency-Key": "retry-me"}).status_code == 202


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(amount="0"), "amount"),
        (body(amount="-5"), "amount"),
        (body(amount="49.999"), "amount"),
        (body(amount=True), "amount"),
        (body(amount=None), "amount"),
        (body(currency="XXX"), "currency"),
        (body(currency="eur"), "currency"),
        (
            body(
                card={"number": "4242424242424241", "expMonth": 12, "expYear": 2030, "cvc": "123"}
            ),
            "card.number",
        ),
        (body(card={"number": PAN, "expMonth": 1, "expYear": 2020, "cvc": "123"}), "card.expMonth"),
        (
            body(card={"number": PAN, "expMonth": "12", "expYear": 2030, "cvc": "123"}),
            "card.expMonth",
        ),
        (body(card={"number": PAN, "expMonth": 12, "expYear": 2030, "cvc": "12"}), "card.cvc"),
        (body(card={"number": PAN, "expMonth": 12, "expYear": 2030}), "card.cvc"),
        (body(webhookUrl="ftp://shop.example/x"), "webhookUrl"),
        (body(webhookUrl="http://127.0.0.1/x"), "webhookUrl"),
        (body(webhookUrl="http://[::ffff:127.0.0.1]/x"), "webhookUrl"),
        (body(webhookUrl="http://2130706433/x"), "webhookUrl"),
        (body(webhookUrl="https://unknown.example/x"), "webhookUrl"),
        (body(reference="r" * 129), "reference"),
        (body(description="d" * 501), "description"),
        (body(metadata={f"k{i}": "v" for i in range(21)}), "metadata"),
        (body(metadata={"k": 5}), "metadata.k"),
        (body(surprise="field"), "surprise"),
        ({"amount": "1"}, "currency"),
        ([], ""),
        ("null", ""),
    ],
)
def test_invalid_payments_are_422_naming_the_field(
    client: TestClient, deps: Deps, payload: Any, field: str
) -> None:
    r = post(client, payload)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]], problem
    assert PAN not in r.text
    assert deps.publisher.sent == []


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 422),
        (b"\xff\xfe\x00", "application/json", 422),
        (b"a=1", "application/x-www-form-urlencoded", 415),
        (b"{}", "text/plain", 415),
        (b"{}", "", 415),
        (b"[" * 100_000, "application/json", 413),
        (json.dumps(body(description="x" * 70_000)).encode(), "application/json", 413),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json", 422),
    ],
)
def test_malformed_bodies_get_clear_errors(
    client: TestClient, deps: Deps, data: bytes, content_type: str, status: int
) -> None:
    r = client.post(
        "/api/payments", content=data, headers={"X-API-Key": KEY_A, "Content-Type": content_type}
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert deps.publisher.sent == []


def test_json_with_a_charset_parameter_is_json(client: TestClient) -> None:
    r = post(client, **{"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 202


@pytest.mark.parametrize("key", [None, "", "pgk_unknown", "x" * 5000])
def test_missing_or_unknown_api_key_is_401_before_anything_else(
    client: TestClient, deps: Deps, key: str | None
) -> None:
    headers = {"Content-Type": "text/plain"} | ({"X-API-Key": key} if key is not None else {})
    r = client.post("/api/payments", content=b"garbage", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert client.get("/api/payments/x", headers=headers).status_code == 401
    assert deps.publisher.sent == []


@pytest.mark.parametrize("idem", ["", "a" * 256, "has space", "tab\there", "é"])
def test_bad_idempotency_keys_are_422(client: TestClient, idem: str) -> None:
    r = client.post(
        "/api/payments",
        content=json.dumps(body()).encode(),
        headers=[
            (b"X-API-Key", KEY_A.encode()),
            (b"Content-Type", b"application/json"),
            (b"Idempotency-Key", idem.encode("utf-8")),
        ],
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    r = client.delete("/api/payments", headers={"X-API-Key": KEY_A})
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
    long_id = client.get("/api/payments/" + "x" * 65, headers={"X-API-Key": KEY_A})
    assert long_id.status_code == 422


def test_health_reports_dependencies(client: TestClient, deps: Deps) -> None:
    assert client.get("/health").json()["status"] == "ok"
    deps.health_status = {**deps.health_status, "kafka": "unavailable"}
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["dependencies"]["kafka"] == "unavailable"


def test_openapi_documents_the_request_body(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    post_op = doc["paths"]["/api/payments"]["post"]
    assert post_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PaymentRequestIn"
    )
    schemas = doc["components"]["schemas"]
    assert {"PaymentRequestIn", "CardIn", "PaymentAccepted", "PaymentOut", "Problem"} <= set(
        schemas
    )
    assert "webhookUrl" in schemas["PaymentRequestIn"]["properties"]


def test_a_retry_after_an_unacknowledged_publish_reuses_the_transaction_id(
    client: TestClient, deps: Deps
) -> None:
    deps.publisher.down = True
    assert post(client, **{"Idempotency-Key": "ack-lost"}).status_code == 503
    deps.publisher.down = False
    retry = post(client, **{"Idempotency-Key": "ack-lost"})
    assert retry.status_code == 202
    assert deps.publisher.attempted_keys == [retry.json()["transactionId"]] * 2
    other = post(client, key=KEY_B, **{"Idempotency-Key": "ack-lost"})
    assert other.json()["transactionId"] != retry.json()["transactionId"]


def test_a_replay_is_answered_before_revalidation(client: TestClient, deps: Deps) -> None:
    first = post(client, **{"Idempotency-Key": "late-replay"})
    deps.service()._clock = FixedClock(datetime(2031, 1, 1, tzinfo=UTC))  # the card expired
    again = post(client, **{"Idempotency-Key": "late-replay"})
    assert again.status_code == 202 and again.json() == first.json()
    assert post(client).status_code == 422  # a new payment with that card is refused


def test_a_temporary_dns_failure_is_503_and_frees_the_key(client: TestClient, deps: Deps) -> None:
    def flaky(host: str) -> Sequence[str]:
        raise TransientError("dns", "temporary resolver failure")

    deps.service()._resolve = CachedResolver(flaky)
    r = post(client, body(webhookUrl="https://shop.example/h"), **{"Idempotency-Key": "dns"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    deps.service()._resolve = CachedResolver(resolve)
    assert post(client, **{"Idempotency-Key": "dns"}).status_code == 202


def test_the_webhook_block_and_resend(client: TestClient, deps: Deps) -> None:
    tx = post(client).json()["transactionId"]
    pending = client.get(f"/api/payments/{tx}", headers={"X-API-Key": KEY_A}).json()
    assert pending["webhook"] is None
    no_webhook_yet = client.post(f"/api/payments/{tx}/webhook/resend", headers={"X-API-Key": KEY_A})
    assert no_webhook_yet.status_code == 409

    record = deps.records.records[tx]
    deps.reader.records[tx] = record.model_copy(update={"status": PaymentStatus.SUCCEEDED})
    at = FixedClock().now()
    created = Delivery(
        webhook_id(tx),
        tx,
        "mer_a",
        "https://shop.example/h",
        b"{}",
        DeliveryStatus.SCHEDULED,
        at,
        at,
    )
    deps.deliveries.create_all([created])
    exhausted = after_attempt(created, DeliveryAttempt(at, 500, None, 3.0), [])
    deps.deliveries.record_all([exhausted], indexed=False)
    shown = client.get(f"/api/payments/{tx}", headers={"X-API-Key": KEY_A}).json()["webhook"]
    assert shown == {
        "webhookId": webhook_id(tx),
        "status": "failed",
        "attempts": 1,
        "lastResponseCode": 500,
        "lastError": None,
        "nextAttemptAt": None,
    }
    assert (
        client.post(f"/api/payments/{tx}/webhook/resend", headers={"X-API-Key": KEY_B}).status_code
        == 404
    )
    resend = client.post(f"/api/payments/{tx}/webhook/resend", headers={"X-API-Key": KEY_A})
    assert resend.status_code == 202
    assert resend.json()["webhookId"] == webhook_id(tx) and resend.json()["status"] == "scheduled"
    assert deps.deliveries.get(webhook_id(tx)).status is DeliveryStatus.SCHEDULED


@pytest.mark.parametrize(
    ("number", "shown"), [("49.99", "49.99"), ("1e2", "100.00"), ("7", "7.00"), ("0.5E1", "5.00")]
)
def test_a_json_number_amount_is_taken_exactly_as_written(
    client: TestClient, number: str, shown: str
) -> None:
    raw = json.dumps(body()).replace('"amount": "49.99"', f'"amount": {number}')
    r = post(client, raw)
    assert r.status_code == 202, r.text
    assert r.json()["amount"] == shown


def test_a_json_number_with_more_precision_than_a_float_is_refused_not_rounded(
    client: TestClient, deps: Deps
) -> None:
    raw = json.dumps(body()).replace('"amount": "49.99"', '"amount": 19.9999999999999999')
    r = post(client, raw)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["amount"]
    assert "decimal places" in r.json()["errors"][0]["message"]
    assert deps.publisher.sent == []


def test_a_webhook_port_other_than_80_or_443_is_a_422_naming_webhook_url(
    client: TestClient, deps: Deps
) -> None:
    r = post(client, body(webhookUrl="https://shop.example:8443/hooks"))
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {"field": "webhookUrl", "message": "webhookUrl port must be one of 80, 443"}
    ]
    assert deps.publisher.sent == []


def test_equivalent_bodies_are_one_request_under_a_key(client: TestClient, deps: Deps) -> None:
    first = post(client, **{"Idempotency-Key": "same-thing"})
    equivalent = [
        '{"currency":"EUR","amount":49.99,"webhookUrl":"https://shop.example/hooks/payments",'
        '"reference":"order-1234","description":"2 books","metadata":{"cartId":"c-77"},'
        '"card":{"cvc":"123","number":"4242424242424242","expYear":2030,"expMonth":12,'
        '"holderName":"A. Buyer"}}',
        json.dumps(body(amount="49.990")),
        json.dumps({**body(), "card": {**body()["card"], "holderName": "A. Buyer"}}),
    ]
    for raw in equivalent:
        again = post(client, raw, **{"Idempotency-Key": "same-thing"})
        assert again.status_code == 202, again.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
    no_holder = {**body(), "card": {k: v for k, v in body()["card"].items() if k != "holderName"}}
    post(client, no_holder, **{"Idempotency-Key": "absent-vs-null"})
    null_holder = {**body(), "card": {**body()["card"], "holderName": None}}
    assert (
        post(client, null_holder, **{"Idempotency-Key": "absent-vs-null"}).headers[
            "idempotent-replayed"
        ]
        == "true"
    )
    assert len(deps.publisher.sent) == 2


def test_after_the_key_record_is_gone_a_replay_is_the_same_payment_and_a_new_body_a_new_one(
    client: TestClient, deps: Deps
) -> None:
    first = post(client, **{"Idempotency-Key": "lost"}).json()["transactionId"]
    deps.records.keys.clear()  # expired, or Redis lost it
    replay = post(client, **{"Idempotency-Key": "lost"})
    assert replay.status_code == 202 and "idempotent-replayed" not in replay.headers
    assert replay.json()["transactionId"] == first  # processing claims it once
    deps.records.keys.clear()
    other = post(client, body(amount="999.00"), **{"Idempotency-Key": "lost"})
    assert other.status_code == 202
    assert other.json()["transactionId"] != first  # a payment of its own, processed
    assert [p.key for p in deps.publisher.sent] == [first, first, other.json()["transactionId"]]


def test_a_publish_in_doubt_voided_is_503_and_frees_the_key(client: TestClient, deps: Deps) -> None:
    deps.publisher.in_doubt = True
    refused = post(client, **{"Idempotency-Key": "doubt"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert deps.records.keys == {} and deps.records.records == {}
    kept = PaymentRequested.model_validate_json(deps.publisher.sent[0].value)
    # the broker kept it: processing finds the void marker and never charges it
    (entry,) = deps.ledger.claim_all([kept], datetime.now(UTC))
    assert entry.voided
    deps.publisher.in_doubt = False
    retry = post(client, **{"Idempotency-Key": "doubt"})
    assert retry.status_code == 202
    assert retry.json()["transactionId"] == kept.transaction_id
    again = PaymentRequested.model_validate_json(deps.publisher.sent[1].value)
    (live,) = deps.ledger.claim_all([again], datetime.now(UTC))
    assert not live.voided and live.recorded is None  # the retry is the payment


def test_a_publish_in_doubt_that_processing_claimed_first_is_202(
    client: TestClient, deps: Deps
) -> None:
    deps.publisher.in_doubt = True
    real_publish = deps.publisher.publish

    def and_processing_claims(*args: Any) -> None:
        real_publish(*args)
        event = PaymentRequested.model_validate_json(deps.publisher.sent[-1].value)
        deps.ledger.claim_all([event], datetime.now(UTC))

    deps.publisher.publish = and_processing_claims  # type: ignore[method-assign]
    accepted = post(client, **{"Idempotency-Key": "doubt-but-claimed"})
    assert accepted.status_code == 202
    replay = post(client, **{"Idempotency-Key": "doubt-but-claimed"})
    assert replay.headers["idempotent-replayed"] == "true"
    assert len(deps.publisher.sent) == 1


def test_a_publish_in_doubt_with_the_ledger_down_is_503(client: TestClient, deps: Deps) -> None:
    deps.publisher.in_doubt = True

    def unreachable(*_args: Any) -> bool:
        raise TransientError("mongodb", "ServerSelectionTimeoutError")

    deps.ledger.void = unreachable  # type: ignore[method-assign]
    r = post(client, **{"Idempotency-Key": "doubt-no-ledger"})
    assert r.status_code == 503 and "may still be processed" in r.json()["detail"]
    assert deps.records.keys == {}  # the retry lands on the same transaction: charged once
