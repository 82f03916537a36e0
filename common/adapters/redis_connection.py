"""A Redis client with short timeouts, and the translation of its errors into TransientError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from common.domain.errors import TransientError

KEY_PREFIX = "pg:"
BANK_BREAKER_NAMESPACE = f"{KEY_PREFIX}breaker:bank"
"""Where the bank circuit breaker's state, shared by every process worker, lives in Redis."""


def redis_client(url: str, timeout_s: float = 1.0) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        retry_on_timeout=False,
    )


@contextmanager
def redis_errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise TransientError("redis", type(exc).__name__) from None


def redis_answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def as_text(value: bytes | str | None) -> str:
    """redis-py answers bytes (or str when decode_responses is on); we want text."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
