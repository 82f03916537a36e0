"""Every page escapes what comes from data: a reference, a description, metadata, a merchant's
name, a webhook URL or error, a dead letter's reason or key (harness/dashboard/views.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.dead_letters import POISON, DeadLetter
from common.domain.payment import CardSummary, PaymentRecord, PaymentStatus, StatusEntry
from common.domain.payment_view import PaymentView
from common.domain.webhooks import Delivery, DeliveryAttempt, DeliveryStatus
from harness import dlq
from harness.dashboard import views
from harness.dashboard.data import (
    DeadLetterGroup,
    DeadLettersPage,
    Overview,
    PaymentDetail,
    PaymentRow,
    PaymentsPage,
)
from harness.dashboard.payment_list import Query
from harness.dashboard.throughput import Charts, bucket_edges
from harness.dashboard.timeline import timeline

EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
AT = datetime(2026, 1, 1, tzinfo=UTC)


def assert_escaped(page: str) -> None:
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page


def record() -> PaymentRecord:
    return PaymentRecord(
        transaction_id="tx-1",
        merchant_id="mer_1",
        status=PaymentStatus.DECLINED,
        amount_minor=1234,
        currency="EUR",
        reference=EVIL,
        description=EVIL,
        metadata={EVIL: EVIL},
        card=CardSummary(brand="visa", last4="4242", exp_month=1, exp_year=2030, fingerprint="f"),
        created_at=AT,
        updated_at=AT,
        decline_code=EVIL,
        status_history=[
            StatusEntry(status=PaymentStatus.PENDING, at=AT),
            StatusEntry(status=PaymentStatus.DECLINED, at=AT + timedelta(seconds=1)),
        ],
    )


def test_a_payment_page_escapes_its_fields_and_has_a_resend_form() -> None:
    view = PaymentView.of(record())
    attempt = DeliveryAttempt(AT, None, EVIL, 12.0)
    delivery = Delivery(
        "evt_1",
        "tx-1",
        "mer_1",
        f"http://x/{EVIL}",
        b"{}",
        DeliveryStatus.SCHEDULED,
        AT + timedelta(seconds=5),
        AT,
        (attempt,),
        0,
    )
    page = views.payment_page(
        PaymentDetail(view, "mer_1", EVIL, timeline(view), [delivery]), "scheduled"
    )
    assert_escaped(page)
    assert 'action="/payments/tx-1/webhook/resend"' in page and "next attempt" in page
    assert "12.34 EUR" in page and "visa ···· 4242" in page
    assert "The webhook is scheduled again" in page
    assert views.NOTICES["resend"]["scheduled"] in page
    assert EVIL not in views.payment_page(
        PaymentDetail(view, "mer_1", None, [], []), EVIL
    )  # an unknown notice code shows nothing


def test_the_payments_list_escapes_its_rows_and_its_query() -> None:
    view = PaymentView.of(record())
    page = views.payments_page(
        PaymentsPage(Query(q=EVIL), [PaymentRow(view, "mer_1", EVIL)], True, 1)
    )
    assert_escaped(page)
    assert 'href="/payments/tx-1"' in page and "older →" in page
    assert 'value="&quot;&gt;&lt;script&gt;' in page  # the search box keeps the query, inert


def test_the_dead_letters_page_escapes_reasons_and_keys() -> None:
    letter = DeadLetter(
        "payments.requested.dlq",
        0,
        3,
        EVIL.encode(),
        b"{}",
        (
            ("dlq.condition", POISON.encode()),
            ("dlq.reason", EVIL.encode()),
            ("dlq.source", b"payments.requested/1/9"),
        ),
    )
    page = views.dead_letters_page(
        DeadLettersPage(
            [DeadLetterGroup(letter.topic, POISON, EVIL, 1)], [dlq.Listed(letter, "poison")], 1
        ),
        "sent",
    )
    assert_escaped(page)
    assert 'value="payments.requested.dlq/0/3"' in page and "redrive → payments.requested" in page


def test_the_overview_escapes_what_the_status_snapshot_holds() -> None:
    edges = bucket_edges(AT)
    n = len(edges) - 1
    snap = {
        "services": [{"name": EVIL, "address": EVIL, "state": "running"}],
        "topics": [{"name": EVIL, "partitions": 1, "endOffset": 2, "consumer": EVIL, "lag": 0}],
        "payments": {"claimed": 1, "decided": 1, "processing": 0, "reversals pending": 0},
        "deliveries": {"created": 1},
        "breaker": {"state": "closed", "calls": 0, "failures": 0, "openedAt": None},
        "deadLettersByReason": {EVIL: 1},
        "errors": {"kafka": EVIL},
    }
    charts = Charts(edges, [1.0] * n, [0.5] * n, [100.0] * n, [None] * n)
    page = views.overview_page(Overview(snap, charts, {"declined": 1}, 1, {"charts": EVIL}))
    assert_escaped(page)
    assert page.count("<svg") == 2 and 'http-equiv="refresh"' in page


def test_pages_allow_no_script_and_only_their_own_stylesheet() -> None:
    assert "script-src" not in views.CSP and views.CSP.startswith("default-src 'none'")
    assert "style-src 'sha256-" in views.CSP and "frame-ancestors 'none'" in views.CSP
