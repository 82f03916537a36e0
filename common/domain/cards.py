"""Card number checks with no I/O: Luhn, brand, expiry, last4, CVC shape."""

from __future__ import annotations

import re
from datetime import date

_BRANDS: list[tuple[str, re.Pattern[str], tuple[int, ...]]] = [
    ("amex", re.compile(r"^3[47]"), (15,)),
    ("diners", re.compile(r"^3(?:0[0-5]|[689])"), (14, 16, 19)),
    ("jcb", re.compile(r"^35(?:2[89]|[3-8])"), (16, 17, 18, 19)),
    ("discover", re.compile(r"^6(?:011|5|4[4-9])"), (16, 19)),
    ("unionpay", re.compile(r"^62"), (16, 17, 18, 19)),
    ("mastercard", re.compile(r"^(?:5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720))"), (16,)),
    ("maestro", re.compile(r"^(?:5[06-9]|6)"), tuple(range(12, 20))),
    ("visa", re.compile(r"^4"), (13, 16, 19)),
]


class CardError(ValueError):
    """The card data is not acceptable; the message is safe to show (it holds no digits), and
    `field` names the card's field it is about, as the API spells it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def normalize_number(raw: str) -> str:
    """Strip the spaces and dashes people type; everything else must be ASCII digits."""
    digits = raw.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit():
        raise CardError(
            "card number must contain only digits (spaces and dashes allowed)", "number"
        )
    if not 12 <= len(digits) <= 19:
        raise CardError("card number must have 12 to 19 digits", "number")
    return digits


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def brand_of(digits: str) -> str:
    for brand, prefix, lengths in _BRANDS:
        if prefix.match(digits) and len(digits) in lengths:
            return brand
    return "unknown"


def check_number(raw: str) -> str:
    """The normalized number if it is plausible and passes Luhn."""
    digits = normalize_number(raw)
    if not luhn_valid(digits):
        raise CardError("card number fails the Luhn check", "number")
    return digits


def check_expiry(month: int, year: int, today: date) -> None:
    """A card is valid through the last day of its expiry month."""
    if not 1 <= month <= 12:
        raise CardError("expMonth must be between 1 and 12", "expMonth")
    if not 2000 <= year <= today.year + 50:
        raise CardError("expYear must be a four-digit year, at most 50 years ahead", "expYear")
    if (year, month) < (today.year, today.month):
        raise CardError("card has expired", "expMonth")


def check_cvc(cvc: str, brand: str) -> None:
    """Shape only: 3 digits (4 for amex). The value is never kept."""
    want = (4,) if brand == "amex" else (3,)
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) in want):
        raise CardError(f"cvc must be {want[0]} digits", "cvc")
