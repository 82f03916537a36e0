"""Real MongoDB wire (FerretDB without Docker): what the pipeline will rely on."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import pymongo
import pytest
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from harness.infra.settings import InfraSettings

Db = Database[dict[str, object]]


def test_insert_and_find(mongo_db: Db) -> None:
    payments = mongo_db.payments
    payments.insert_one({"_id": "tx-1", "status": "pending", "amountMinor": 4999})
    found = payments.find_one({"_id": "tx-1"})
    assert found == {"_id": "tx-1", "status": "pending", "amountMinor": 4999}
    assert payments.find_one({"_id": "tx-2"}) is None


def test_unique_index_refuses_a_second_claim(mongo_db: Db) -> None:
    claims = mongo_db.claims
    claims.create_index([("transactionId", pymongo.ASCENDING)], unique=True)
    claims.insert_one({"transactionId": "tx-1", "worker": "a"})
    with pytest.raises(DuplicateKeyError):
        claims.insert_one({"transactionId": "tx-1", "worker": "b"})
    assert claims.count_documents({"transactionId": "tx-1"}) == 1
    assert claims.find_one({"transactionId": "tx-1"}, {"_id": 0}) == {
        "transactionId": "tx-1",
        "worker": "a",
    }


def test_compound_unique_index(mongo_db: Db) -> None:
    attempts = mongo_db.attempts
    attempts.create_index([("deliveryId", 1), ("attempt", 1)], unique=True)
    attempts.insert_many([{"deliveryId": "d", "attempt": n} for n in (1, 2)])
    with pytest.raises(DuplicateKeyError):
        attempts.insert_one({"deliveryId": "d", "attempt": 2})


def test_upsert_and_find_one_and_update(mongo_db: Db) -> None:
    col = mongo_db.state
    doc = col.find_one_and_update(
        {"_id": "tx-1"},
        {"$setOnInsert": {"createdAt": 1}, "$set": {"status": "processing"}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc == {"_id": "tx-1", "createdAt": 1, "status": "processing"}
    doc = col.find_one_and_update(
        {"_id": "tx-1"}, {"$set": {"status": "succeeded"}}, return_document=ReturnDocument.AFTER
    )
    assert doc is not None and doc["status"] == "succeeded" and doc["createdAt"] == 1


def test_group_and_count_aggregation(mongo_db: Db) -> None:
    col = mongo_db.payments
    col.insert_many([{"status": s} for s in ["succeeded"] * 3 + ["declined"] * 2 + ["failed"]])
    rows = list(
        col.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    )
    assert rows == [
        {"_id": "declined", "n": 2},
        {"_id": "failed", "n": 1},
        {"_id": "succeeded", "n": 3},
    ]


def test_id_lookups_use_an_index_on_the_native_server(mongo_db: Db, infra: InfraSettings) -> None:
    """FerretDB 1.24 looks `_id` up by an expression its own `_id` index does not match; the
    project's build adds the index that does (harness/infra/ferretdb/idindex.go), within a
    second of a collection's first insert. Without it every update by `_id` scans the table."""
    mongo_db.fresh.insert_one({"_id": "tx-1"})
    file = infra.data_dir / "ferretdb" / f"{mongo_db.name}.sqlite"
    deadline = time.monotonic() + 10
    while True:
        with closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=5)) as db:
            (table,) = db.execute(
                "SELECT table_name FROM _ferretdb_collections WHERE name = 'fresh'"
            ).fetchone()
            plan = db.execute(
                f'EXPLAIN QUERY PLAN SELECT 1 FROM "{table}" '
                "WHERE _ferretdb_sjson->'$._id' = '\"tx-1\"'"
            ).fetchall()
        if "USING INDEX" in str(plan) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "USING INDEX" in str(plan), plan
