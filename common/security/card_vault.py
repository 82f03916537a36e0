"""Replaces a card number by a token (sealed) and a fingerprint (keyed hash) at intake.

Only intake sees the number in clear; it leaves intake as `CardToken`. The process function
opens the token in memory, for the bank call only.
"""

from __future__ import annotations

from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox


class CardVault:
    def __init__(self, box: SealedBox, hasher: KeyedHasher) -> None:
        self._box = box
        self._hasher = hasher

    def tokenize(self, number: str, transaction_id: str) -> str:
        return self._box.seal(number.encode(), _context(transaction_id))

    def reveal(self, token: str, transaction_id: str) -> str:
        return self._box.open(token, _context(transaction_id)).decode()

    def fingerprint(self, number: str) -> str:
        """Same card → same fingerprint, for this gateway's key only (not reversible)."""
        return f"fp_{self._hasher.digest('card-fingerprint', number.encode())[:32]}"


def _context(transaction_id: str) -> bytes:
    return f"card:{transaction_id}".encode()
