"""Authenticated encryption (AES-256-GCM) of small secrets: card numbers, webhook secrets.

A sealed value is `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The associated data
binds it to its context (e.g. the transaction id), so a token lifted from one payment cannot
be replayed into another. Opening with the wrong key, context or a tampered value fails.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


class SealedBoxError(ValueError):
    """A sealed value could not be opened (malformed, tampered, wrong key or context)."""


def decode_key(b64: str) -> bytes:
    """A 256-bit key from its base64 (standard or url-safe) text."""
    try:
        key = base64.urlsafe_b64decode(b64.replace("+", "-").replace("/", "_") + "==")
    except (binascii.Error, ValueError):
        raise ValueError("key must be base64") from None
    if len(key) != 32:
        raise ValueError("key must be 32 bytes (256 bits) once base64-decoded")
    return key


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class SealedBox:
    def __init__(self, key: bytes, key_id: str = "k1") -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        if not key_id.isalnum():
            raise ValueError("key id must be alphanumeric")
        self._aead = AESGCM(key)
        self._key_id = key_id

    def seal(self, plaintext: bytes, context: bytes) -> str:
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, plaintext, context)
        return f"{_VERSION}.{self._key_id}.{base64.urlsafe_b64encode(blob).decode().rstrip('=')}"

    def open(self, sealed: str, context: bytes) -> bytes:
        try:
            version, key_id, b64 = sealed.split(".")
            blob = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (ValueError, binascii.Error):
            raise SealedBoxError("malformed sealed value") from None
        if version != _VERSION or key_id != self._key_id or len(blob) < 12 + 16:
            raise SealedBoxError("unknown version or key id")
        try:
            return self._aead.decrypt(blob[:12], blob[12:], context)
        except InvalidTag:
            raise SealedBoxError("sealed value failed authentication") from None
