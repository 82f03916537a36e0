"""A Redis client with short timeouts, and the translation of its errors into TransientError."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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


class LoopRedis:
    """A redis.asyncio client for the running event loop: connections belong to the loop that
    opened them, so another loop (a test's, say) gets a client of its own. One loop serves a
    process's requests in production (uvicorn's, or the one Mangum reuses). At most
    `max_connections` commands are in flight; more wait up to `timeout_s` for a connection
    (redis-py's default pool refuses the 101st at once: 503s under a burst). A connection
    Redis closed (it restarted) is opened again once before a command fails."""

    def __init__(self, url: str, timeout_s: float = 1.0, max_connections: int = 64) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: redis.asyncio.Redis | None = None

    def __call__(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._url,
                max_connections=self._max_connections,
                timeout=self._timeout_s,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
                health_check_interval=30,
                retry_on_timeout=False,
                # A pool built by hand gets no retry at all (redis.asyncio.Redis(...) would
                # give it three): one reconnect, for a connection Redis closed (a restart)
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[redis.ConnectionError],
            )
            self._loop, self._client = loop, redis.asyncio.Redis(connection_pool=pool)
        return self._client


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
