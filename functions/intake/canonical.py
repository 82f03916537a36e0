"""One canonical form of a payment request, so that equivalent bodies count as one under an
Idempotency-Key: the amount as a normalized decimal ("49.99", 49.99 and "49.990" alike), keys
in sorted order (metadata included), an absent optional field the same as null."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from functions.intake.schemas import PaymentRequestIn

_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def canonical_request(request: PaymentRequestIn) -> bytes:
    doc = request.model_dump(by_alias=True)
    doc["amount"] = canonical_amount(request.amount)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_amount(amount: str | int | float) -> str:
    """A plain decimal (a JSON number arrives here already as its exact decimal text) or an
    integer, normalized; anything else as written, so an amount refused for its form never
    equals one that was accepted."""
    if isinstance(amount, (bool, float)):
        return repr(amount)
    text = str(amount)
    if isinstance(amount, int) or _PLAIN_DECIMAL.fullmatch(text):
        return format(Decimal(text).normalize(), "f")
    return text
