"""bench/store_fill.py and the pure parts of bench/store_size.py and its report section: the
documents a filled store holds (recorded from the ledger's own adapters, and read back by
the read side's adapters), the batches they are written in, the choice of payments, the
figures and their ratios. No sockets: the store is a dict of documents."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from pymongo.database import Database

from bench.cpu import ComponentCpu, Member
from bench.report import render, store_heading
from bench.store_fill import (
    BATCH,
    Filled,
    LedgerRecorder,
    RecordedInserts,
    StoreOwner,
    batches,
    fill,
    status_of,
    transaction_id,
    write,
)
from bench.store_size import (
    RATIO_FIGURES,
    Requests,
    Run,
    StoreConfig,
    UnresentPayments,
    component_pids,
    fill_figures,
    latency_summary,
    per_op_ms,
    ratio,
    ratios,
    request_figures,
    resent_per_size,
    schedule_figures,
)
from common.adapters.mongo_payment_ledger import PAYMENT_CLAIMS, PAYMENT_OUTCOMES
from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.adapters.mongo_webhook_deliveries import ATTEMPTS, DELIVERIES, MongoWebhookDeliveries
from common.domain.payment import PaymentStatus
from common.domain.webhooks import DeliveryStatus, webhook_id

OWNER = StoreOwner("mer_store", "http://127.0.0.1:24082/hooks/mer_store")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class _Collection:
    """What the read side asks of a collection: find_one by `_id`."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self._by_id = {d["_id"]: d for d in docs}

    def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        return self._by_id.get(query["_id"])


class _Stored:
    """The recorded documents as a database the readers can read."""

    def __init__(self, docs: dict[str, list[dict[str, Any]]]) -> None:
        self._docs = docs

    def __getitem__(self, name: str) -> _Collection:
        return _Collection(self._docs.get(name, []))


def _recorded(numbers: range) -> dict[str, list[dict[str, Any]]]:
    recorder = LedgerRecorder()
    recorder.settled(OWNER, numbers, NOW)
    return recorder.recorded.take()


def _as_db(docs: dict[str, list[dict[str, Any]]]) -> Database[dict[str, Any]]:
    return cast("Database[dict[str, Any]]", _Stored(docs))


# ---------------------------------------------------------------- the store's documents


def test_each_payment_is_a_claim_an_outcome_a_delivery_and_one_attempt() -> None:
    docs = _recorded(range(20))
    written = {name: rows for name, rows in docs.items() if rows}
    assert {name: len(rows) for name, rows in written.items()} == {
        PAYMENT_CLAIMS: 20,
        PAYMENT_OUTCOMES: 20,
        DELIVERIES: 20,
        ATTEMPTS: 20,
    }
    ids = [transaction_id(n) for n in range(20)]
    assert [d["_id"] for d in docs[PAYMENT_CLAIMS]] == ids
    assert [d["_id"] for d in docs[PAYMENT_OUTCOMES]] == ids
    assert [d["_id"] for d in docs[DELIVERIES]] == [webhook_id(tx) for tx in ids]
    assert [d["_id"] for d in docs[ATTEMPTS]] == [f"{webhook_id(tx)}#0#1" for tx in ids]
    assert {a["outcome"] for a in docs[ATTEMPTS]} == {"delivered"}


def test_the_claims_hold_no_card_token() -> None:
    for claim in _recorded(range(3))[PAYMENT_CLAIMS]:
        assert "token" not in claim["card"]
        assert claim["merchantId"] == OWNER.merchant_id


def test_the_read_side_reads_a_filled_payment_as_decided_and_delivered() -> None:
    db = _as_db(_recorded(range(10)))
    for n in (0, 9):
        tx = transaction_id(n)
        record = MongoPaymentReader(db).get(tx)
        assert record is not None
        assert record.status is status_of(n)
        assert [e.status for e in record.status_history][-1] is status_of(n)
        assert len(record.bank_attempts) == 1
        delivery = MongoWebhookDeliveries(db).get(webhook_id(tx))
        assert delivery is not None
        assert delivery.status is DeliveryStatus.DELIVERED and len(delivery.attempts) == 1
        assert delivery.url == OWNER.webhook_url and delivery.round == 0
        body = json.loads(delivery.body)
        assert body["type"] == f"payment.{status_of(n).value}"
        assert body["data"]["transactionId"] == tx


def test_one_payment_in_ten_is_declined() -> None:
    statuses = [status_of(n) for n in range(100)]
    assert statuses.count(PaymentStatus.DECLINED) == 10
    assert set(statuses) == {PaymentStatus.SUCCEEDED, PaymentStatus.DECLINED}


def test_transaction_ids_are_distinct_and_stable() -> None:
    assert len({transaction_id(n) for n in range(5000)}) == 5000
    assert transaction_id(7) == transaction_id(7)


def test_batches_cover_the_range_in_order() -> None:
    assert batches(0, 2500, 1000) == [range(0, 1000), range(1000, 2000), range(2000, 2500)]
    assert batches(1000, 1200, 1000) == [range(1000, 1200)]
    assert batches(5, 5, 1000) == []


class _CountingDb(RecordedInserts):
    """RecordedInserts that also counts the insert_many calls (one per collection and batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def __getitem__(self, name: str) -> Any:
        inner = super().__getitem__(name)
        calls = self.calls

        class _Counted:
            def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
                assert ordered is False
                calls.append((name, len(docs)))
                inner.insert_many(docs, ordered)

        return _Counted()


def test_fill_writes_each_collection_once_per_batch_and_tops_up() -> None:
    db = _CountingDb()
    first = fill(cast("Database[dict[str, Any]]", db), OWNER, 0, BATCH + 5)
    assert (first.payments, first.documents) == (BATCH + 5, 4 * (BATCH + 5))
    assert sorted(db.calls) == sorted(
        [
            (name, n)
            for name in (PAYMENT_CLAIMS, PAYMENT_OUTCOMES, DELIVERIES, ATTEMPTS)
            for n in (BATCH, 5)
        ]
    )
    top_up = fill(cast("Database[dict[str, Any]]", db), OWNER, BATCH + 5, BATCH + 8)
    assert top_up.payments == 3
    claims = [d["_id"] for d in db.docs[PAYMENT_CLAIMS]]
    assert claims == [transaction_id(n) for n in range(BATCH + 8)]


def test_write_skips_empty_collections() -> None:
    db = _CountingDb()
    assert write(cast("Database[dict[str, Any]]", db), {"a": [{"_id": 1}], "b": []}) == 1
    assert db.calls == [("a", 1)]


# ---------------------------------------------------------------- the phase's choices


def _config(**changes: Any) -> StoreConfig:
    base: dict[str, Any] = {
        "sizes": (50, 200),
        "gets": 20,
        "schedule_runs": 3,
        "due_per_run": 5,
        "resends": 10,
        "warmup": 2,
    }
    return StoreConfig(**{**base, **changes})


def test_resent_per_size_counts_resends_and_every_run_warm_up_included() -> None:
    assert resent_per_size(_config()) == 2 + 10 + 5 * 4


@pytest.mark.parametrize(
    "changes",
    [
        {"sizes": (200, 50)},
        {"sizes": (0, 50)},
        {"gets": 49},
        {"resends": 40},
        {"sizes": (50, 60)},
    ],
)
def test_a_config_the_store_cannot_serve_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _config(**changes)


def test_the_plans_configs_are_accepted() -> None:
    from bench.__main__ import FULL_PLAN, SMOKE_PLAN  # noqa: PLC0415

    assert FULL_PLAN.store.sizes == (1000, 20000)
    assert SMOKE_PLAN.store.sizes[0] < SMOKE_PLAN.store.sizes[1]


def test_unresent_payments_are_sampled_without_repeats_and_taken_for_good() -> None:
    pool = UnresentPayments(random.Random(1))
    pool.add([f"tx{i}" for i in range(10)])
    read = pool.sample(4)
    assert len(set(read)) == 4 and len(pool) == 10
    taken = pool.take(6)
    assert len(set(taken)) == 6 and len(pool) == 4
    rest = pool.take(4)
    assert set(taken).isdisjoint(rest) and len(pool) == 0
    with pytest.raises(ValueError):
        pool.take(1)


# ---------------------------------------------------------------- figures


def test_latency_summary_is_median_nearest_rank_p95_and_max() -> None:
    ms = [float(i) for i in range(1, 101)]
    assert latency_summary(ms) == {"median": 50.5, "p95": 95.0, "max": 100.0}
    assert latency_summary([]) == {"median": None, "p95": None, "max": None}


def test_per_op_and_ratio() -> None:
    assert per_op_ms(0.3, 100) == 3.0
    assert per_op_ms(0.3, 0) is None
    assert ratio(2.0, 3.0) == 1.5
    assert ratio(0.0, 3.0) is None and ratio(None, 1.0) is None and ratio(1.0, None) is None


def _cpu(mongo_s: float, api_s: float) -> dict[str, ComponentCpu]:
    return {
        "mongo": ComponentCpu(mongo_s, 1),
        "apiFront": ComponentCpu(api_s / 2, 1),
        "apiEnvironments": ComponentCpu(api_s / 2, 2),
    }


def test_request_figures_per_request() -> None:
    fig = request_figures(Requests([2.0, 4.0, 6.0, 8.0], 1, _cpu(0.02, 0.04)))
    assert fig == {
        "count": 4,
        "errors": 1,
        "latencyMs": {"median": 5.0, "p95": 8.0, "max": 8.0},
        "mongoCpuMsPerOp": 5.0,
        "apiCpuMsPerOp": 10.0,
    }


def test_schedule_figures_per_run_and_whether_each_sent_what_was_due() -> None:
    runs = [Run(30.0, 20, 20, 0.01, 0.02), Run(50.0, 20, 19, 0.03, 0.02)]
    fig = schedule_figures(runs, 20)
    assert fig["runs"] == 2 and fig["due"] == 40 and fig["delivered"] == 39
    assert fig["everyRunSentWhatWasDue"] is True
    assert fig["wallMs"] == {"median": 40.0, "p95": 50.0, "max": 50.0}
    assert fig["mongoCpuMsPerRun"] == 20.0 and fig["notifyCpuMsPerRun"] == 20.0
    assert schedule_figures([Run(30.0, 19, 19, 0, 0)], 20)["everyRunSentWhatWasDue"] is False


def _at(get_median: float, run_median: float) -> dict[str, Any]:
    op = {
        "latencyMs": {"median": get_median, "p95": 2 * get_median},
        "mongoCpuMsPerOp": 1.0,
        "apiCpuMsPerOp": 0.0,
    }
    sched = {
        "wallMs": {"median": run_median, "p95": run_median},
        "mongoCpuMsPerRun": 4.0,
        "notifyCpuMsPerRun": None,
    }
    return {"get": op, "schedule": sched, "resend": op}


def test_ratios_name_every_compared_figure() -> None:
    r = ratios(_at(4.0, 100.0), _at(5.0, 90.0))
    assert set(r) == set(RATIO_FIGURES)
    assert r["get"] == {
        "latencyMs.median": 1.25,
        "latencyMs.p95": 1.25,
        "mongoCpuMsPerOp": 1.0,
        "apiCpuMsPerOp": None,
    }
    assert r["schedule"]["wallMs.median"] == 0.9 and r["schedule"]["notifyCpuMsPerRun"] is None


def test_component_pids_from_a_snapshot() -> None:
    members = {
        (10, 1): Member("mongo", ("ferretdb",), 5),
        (11, 2): Member("redis", ("redis-server",), 5),
        (9, 3): Member("mongo", ("ferretdb",), 5),
    }
    assert component_pids(members, "mongo") == [9, 10]


def test_fill_figures() -> None:
    assert fill_figures(Filled(1000, 4000, 2.0), 1000) == {
        "toSize": 1000,
        "payments": 1000,
        "documents": 4000,
        "seconds": 2.0,
        "documentsPerS": 2000,
    }


# ---------------------------------------------------------------- the report section


def _store_results() -> dict[str, Any]:
    small, large = _at(4.0, 100.0), _at(5.0, 90.0)
    for at, size in ((small, 1000), (large, 20000)):
        for op in ("get", "resend"):
            at[op] = {**at[op], "count": 300, "errors": 0}
        at["schedule"] = {**at["schedule"], "runs": 20, "duePerRun": 20}
        at["schedule"]["everyRunSentWhatWasDue"] = True
        at["documents"] = {"payment_claims": size, "webhook_attempts": size, "webhook_due": 0}
    return {
        "sizes": [1000, 20000],
        "fill": [
            {"toSize": 1000, "payments": 1000, "documents": 4000, "seconds": 1.0},
            {"toSize": 20000, "payments": 19000, "documents": 76000, "seconds": 9.0},
        ],
        "at": {"1000": small, "20000": large},
        "ratios": ratios(small, large),
    }


def test_the_report_heading_names_both_sizes() -> None:
    assert store_heading({"sizes": [1000, 20000]}) == (
        "## Reads do not grow with the store: GET, schedule and resend at 1,000 and 20,000 payments"
    )


def test_the_report_has_the_store_section_with_its_ratios() -> None:
    r = {
        "startedAt": "2026-12-01T12:00:00Z",
        "smoke": False,
        "only": "store",
        "seconds": 60.0,
        "machine": {"commit": "abc", "cpus": 2, "loadAverageAtStart": [1.0, 1.0, 1.0]},
        "storeSize": _store_results(),
    }
    text = render(r, [])
    assert store_heading(r["storeSize"]) in text
    assert "| GET /api/payments/{id} | latency median, ms | 4 | 5 | 1.25 |" in text
    assert "`python -m bench --only store`" in text
