"""Real Redis: round trips, expiry and the SET NX that idempotency will rest on."""

from __future__ import annotations

import uuid

import redis


def test_round_trip_and_expiry(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    assert redis_client.set(key, b"value", ex=60)
    assert redis_client.get(key) == b"value"
    assert 0 < redis_client.ttl(key) <= 60
    assert redis_client.delete(key) == 1
    assert redis_client.get(key) is None


def test_set_nx_lets_exactly_one_writer_win(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    results = [redis_client.set(key, f"writer-{i}", nx=True, ex=60) for i in range(5)]
    assert results.count(True) == 1
    assert redis_client.get(key) == b"writer-0"
    redis_client.delete(key)


def test_hash_and_pipeline(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    with redis_client.pipeline() as pipe:
        pipe.hset(key, mapping={"a": "1", "b": "2"}).hincrby(key, "a", 5).expire(key, 60)
        assert pipe.execute() == [2, 6, True]
    assert redis_client.hgetall(key) == {b"a": b"6", b"b": b"2"}
    redis_client.delete(key)


def test_append_only_file_is_on(redis_client: redis.Redis) -> None:
    assert redis_client.config_get("appendonly") == {"appendonly": "yes"}
