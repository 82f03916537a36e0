"""A MongoDB client with short timeouts (MongoDB, or FerretDB without Docker)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymongo
from pymongo.errors import DuplicateKeyError, PyMongoError

from common.domain.errors import TransientError


def mongo_client(
    uri: str, timeout_ms: int = 2000, op_timeout_ms: int = 5000
) -> pymongo.MongoClient[dict[str, Any]]:
    """`timeout_ms` bounds finding the server; `op_timeout_ms` one operation."""
    return pymongo.MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=op_timeout_ms,
        tz_aware=True,
    )


def mongo_answers(client: pymongo.MongoClient[dict[str, Any]]) -> bool:
    try:
        return client.admin.command("ping").get("ok") == 1.0
    except PyMongoError:
        return False


@contextmanager
def mongo_errors() -> Iterator[None]:
    """PyMongo failures become TransientError; a duplicate key is an answer, not a failure."""
    try:
        yield
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        raise TransientError("mongodb", type(exc).__name__) from None
