"""Keyed hashes (HMAC-SHA256) for values that must be comparable but never recoverable:
card fingerprints, idempotency request digests. A purpose label keeps uses apart."""

from __future__ import annotations

import hashlib
import hmac


class KeyedHasher:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("keyed hash needs a key of at least 32 bytes")
        self._key = key

    def digest(self, purpose: str, data: bytes) -> str:
        return hmac.new(self._key, purpose.encode() + b"\0" + data, hashlib.sha256).hexdigest()
