"""The dashboard in a real browser (headless Chromium) over a scratch database and topics of
its own, seeded through the real adapters (dashboard_support.py): what each page shows, that
no hostile value reaches a page as markup, and that resend and redrive act only on a
same-origin POST.

Chromium comes from Debian's package, installed on first use when we are root
(harness/infra/chromium.py). Screenshots go to a temporary folder, or to
$DASHBOARD_SCREENSHOTS (the README's, in docs/dashboard/, come from a live `make demo`).
"""

from __future__ import annotations

import html
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from confluent_kafka import Consumer, TopicPartition
from pymongo.database import Database

from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.adapters.redis_pending_payments import pending_key
from common.domain.webhooks import webhook_id
from harness.infra import chromium
from harness.infra.native import InstallError
from harness.infra.settings import InfraSettings
from tests.integration.dashboard_support import (
    HOSTILE,
    Seeded,
    Seeder,
    Topics,
    dashboard_server,
)


@pytest.fixture(scope="module")
def browser() -> str:
    try:
        return chromium.chromium()
    except InstallError as exc:
        pytest.fail(f"headless Chromium is needed for the dashboard's tests: {exc}", pytrace=False)


@pytest.fixture
def topics(new_topics: Callable[[Mapping[str, int]], None]) -> Topics:
    base = f"test.dash.{uuid.uuid4().hex[:8]}"
    t = Topics(f"{base}.requested", f"{base}.processed", f"{base}.retry")
    parts = {t.requested: 3, t.processed: 3, t.retry: 1}
    new_topics({name: parts.get(name, 1) for name in t.all})
    return t


@dataclass
class Dashboard:
    url: str
    seeded: Seeded
    db: Database[dict[str, Any]]
    topics: Topics
    infra: InfraSettings

    def get(self, path: str) -> str:
        r = requests.get(self.url + path, timeout=30)
        assert r.status_code == 200, r.text[:500]
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        assert_no_markup_from_data(r.text)
        return r.text

    def post(self, path: str, headers: dict[str, str], **form: str) -> requests.Response:
        return requests.post(
            self.url + path, data=form, headers=headers, allow_redirects=False, timeout=30
        )


@pytest.fixture
def dashboard(
    infra: InfraSettings,
    mongo_db: Database[dict[str, Any]],
    redis_client: redis.Redis,
    topics: Topics,
    tmp_path: Path,
) -> Iterator[Dashboard]:
    seeder = Seeder(mongo_db, redis_client, infra.redis_url, topics, infra.kafka_bootstrap)
    seeded = seeder.seed(datetime.now(UTC))
    own = infra.model_copy(
        update={
            "parameter_overrides": topics.overrides(mongo_db.name),
            "data_dir": tmp_path / "data",
        }
    )
    with dashboard_server(own) as url:
        yield Dashboard(url, seeded, mongo_db, topics, own)
    redis_client.delete(pending_key(seeded.pending))


def assert_no_markup_from_data(page: str) -> None:
    """The pages have no script and no image of their own: any there came from data."""
    lowered = page.lower()
    for tag in ("<script", "<img", "onerror=alert(1)>"):
        assert tag not in lowered, tag


def dom(url: str) -> str:
    """The page as Chromium built it: markup from data would be elements here."""
    built = chromium.dump_dom(url)
    assert_no_markup_from_data(built)
    return built


def screenshots(tmp_path: Path) -> Path:
    return Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path)


def test_the_overview_shows_the_pipeline_and_charts_of_the_last_ten_minutes(
    browser: str, dashboard: Dashboard, tmp_path: Path
) -> None:
    page = dom(dashboard.url + "/")
    for shown in (
        "Payments per second",
        "Submit → webhook latency",
        "Services",
        "Topics",
        "Bank circuit breaker",
        "Reversals pending",
        "Dead letters",
        "payments.requested",
        'http-equiv="refresh"',
    ):
        assert shown in page, shown
    assert re.search(r"Outcomes of the newest \d+ settled", page)
    for line in ("accepted", "settled", "p50", "max"):
        points = re.search(rf'<polyline class="{line}" points="([^"]+)"', page)
        assert points, line
        ys = {p.split(",")[1] for p in points.group(1).split()}
        assert len(ys) > 1, f"{line} is flat: {ys}"  # the seeded traffic varies
    shot = chromium.screenshot(dashboard.url + "/", screenshots(tmp_path) / "overview.png")
    assert shot.stat().st_size > 20_000


def test_the_payments_list_is_newest_first_paged_and_searchable(
    browser: str, dashboard: Dashboard
) -> None:
    s = dashboard.seeded
    first = dom(dashboard.url + "/payments")
    ids = re.findall(r'href="/payments/([0-9a-f-]{36})"', first)
    assert len(ids) == 50 and ids[0] == s.pending  # seeded last, listed first
    assert ids.index(s.pending) < ids.index(s.featured)
    assert "older →" in first
    second = dashboard.get("/payments?page=1")
    assert set(re.findall(r'href="/payments/([0-9a-f-]{36})"', second)).isdisjoint(ids)

    def found(query: str) -> set[str]:
        return set(re.findall(r'href="/payments/([0-9a-f-]{36})"', dashboard.get(query)))

    assert found(f"/payments?q={s.featured[:8]}") == {s.featured}
    assert found("/payments?q=declined-1") == {s.declined}
    mine = {s.featured, s.declined, s.reversed, s.processing, s.pending}
    assert found(f"/payments?q={s.merchant_id}") == mine
    assert found(f"/payments?q={s.merchant_id}&status=declined") == {s.declined}
    assert found(f"/payments?q={s.merchant_id}&status=processing") == {s.processing}
    assert found(f"/payments?q={s.merchant_id}&status=pending") == {s.pending}
    assert found("/payments?q=nothing-like-this") == set()


def test_a_payment_shows_its_timeline_and_webhook_escaped(
    browser: str, dashboard: Dashboard, tmp_path: Path
) -> None:
    s = dashboard.seeded
    page = dom(f"{dashboard.url}/payments/{s.featured}")
    for shown in (
        "49.99 EUR",
        "visa ···· 4242",
        "requested",
        "claimed by processing",
        "bank attempt 1",
        "unavailable in 2000 ms (read timeout)",
        "bank attempt 2",
        "approved in 41 ms",
        "outcome: succeeded",
        "Round 0",
        "delivered",
        ">500<",
        ">200<",
        "Resend webhook",
    ):
        assert shown in page, shown
    assert "4242424242424242" not in page and "fp_dashboard" not in page
    # as text: the merchant's name, reference, description, a metadata key and value, the
    # webhook URL, an attempt's error
    assert page.count(html.escape(HOSTILE, quote=False)) == 7
    reversed_ = dom(f"{dashboard.url}/payments/{s.reversed}")
    for shown in (
        "reversal sent to the bank",
        "reversal acknowledged by the bank",
        "bank_timeout",
        "scheduled",
        "next attempt",
    ):
        assert shown in reversed_, shown
    assert "Sent once the payment is final" in dashboard.get(f"/payments/{s.pending}")
    shot = chromium.screenshot(
        f"{dashboard.url}/payments/{s.featured}", screenshots(tmp_path) / "payment.png"
    )
    assert shot.stat().st_size > 20_000
    missing = requests.get(f"{dashboard.url}/payments/{uuid.uuid4()}", timeout=10)
    assert missing.status_code == 404


def test_resend_acts_only_on_a_same_origin_post(dashboard: Dashboard) -> None:
    s = dashboard.seeded
    path = f"/payments/{s.featured}/webhook/resend"
    deliveries = MongoWebhookDeliveries(dashboard.db)
    for headers in (
        {},
        {"Origin": "http://evil.example"},
        {"Referer": "http://evil.example/"},
        {"Origin": "null"},
        {"Origin": dashboard.url, "Host": "evil.example"},
    ):
        refused = dashboard.post(path, headers)
        assert refused.status_code == 403, headers
    assert len(deliveries.history(webhook_id(s.featured))) == 1

    done = dashboard.post(path, {"Origin": dashboard.url})
    assert done.status_code == 303
    assert done.headers["location"] == f"/payments/{s.featured}?resend=scheduled"
    rounds = deliveries.history(webhook_id(s.featured))
    assert [r.round for r in rounds] == [0, 1] and rounds[1].status == "scheduled"
    page = dashboard.get(done.headers["location"])
    assert "The webhook is scheduled again" in page and "Round 1: resend 1" in page

    by_referer = dashboard.post(path, {"Referer": f"{dashboard.url}/payments/{s.featured}"})
    assert by_referer.status_code == 303
    early = dashboard.post(f"/payments/{s.pending}/webhook/resend", {"Origin": dashboard.url})
    assert early.headers["location"].endswith("?resend=no-webhook")


def test_dead_letters_by_reason_with_a_redrive_button(
    browser: str, dashboard: Dashboard, infra: InfraSettings
) -> None:
    s, t = dashboard.seeded, dashboard.topics
    page = dom(dashboard.url + "/dead-letters")
    assert "PoisonRecord" in page and "RetryAttemptsExhausted" in page
    assert "PermanentError: &lt;script&gt;" in page
    assert page.count('name="position"') == 2 and f"redrive → {t.requested}" in page

    poison = s.letters[0]
    assert dashboard.post("/dead-letters/redrive", {}, position=poison).status_code == 403
    before = end_offsets(infra, t.requested)
    done = dashboard.post("/dead-letters/redrive", {"Origin": dashboard.url}, position=poison)
    assert done.status_code == 303 and done.headers["location"] == "/dead-letters?redrive=sent"
    assert sum(end_offsets(infra, t.requested).values()) == sum(before.values()) + 1
    assert "Sent back to its source topic." in dashboard.get(done.headers["location"])
    unknown = dashboard.post("/dead-letters/redrive", {"Origin": dashboard.url}, position="x/0/9")
    assert unknown.headers["location"] == "/dead-letters?redrive=unknown"


def end_offsets(infra: InfraSettings, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": infra.kafka_bootstrap, "group.id": "t-dashboard"})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        c.close()
