"""Money as integer minor units plus an ISO 4217 code. No floats anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# ISO 4217 active codes and their minor units (exponent). Codes absent here are rejected.
_THREE = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_ZERO = {
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
    "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
_FOUR = {"CLF", "UYW"}
_TWO = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT",
    "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
    "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU",
    "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
}  # fmt: skip

MINOR_UNITS: dict[str, int] = {
    **{c: 0 for c in _ZERO},
    **{c: 2 for c in _TWO},
    **{c: 3 for c in _THREE},
    **{c: 4 for c in _FOUR},
}

MAX_MINOR = 10**15
"""Upper bound of an amount in minor units (a payment gateway is not a central bank)."""


class MoneyError(ValueError):
    """The amount or currency is not acceptable; the message says why, for the client, and
    `field` which of the two ("amount" or "currency")."""

    def __init__(self, message: str, field: str = "amount") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, order=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if self.currency not in MINOR_UNITS:
            raise MoneyError(
                f"unknown currency {self.currency!r} (ISO 4217 code expected)", "currency"
            )
        if not 0 < self.minor <= MAX_MINOR:
            raise MoneyError("amount must be greater than 0 and at most 10^15 minor units")

    @classmethod
    def parse(cls, amount: str | int | float | Decimal, currency: str) -> Money:
        """Parse a decimal amount (string or JSON number) in major units, strictly."""
        if currency not in MINOR_UNITS:
            raise MoneyError(f"unknown currency {currency!r} (ISO 4217 code expected)", "currency")
        if isinstance(amount, bool):
            raise MoneyError("amount must be a decimal number or string, not a boolean")
        text = str(amount)
        if isinstance(amount, str) and (not text or len(text) > 40 or not _plain_decimal(text)):
            raise MoneyError('amount must be a plain decimal like "49.99"')
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise MoneyError("amount must be a decimal number") from None
        if not value.is_finite():
            raise MoneyError("amount must be a finite number")
        if value <= 0:
            raise MoneyError("amount must be greater than 0")
        exponent = MINOR_UNITS[currency]
        if (
            _decimal_places(value) > exponent
        ):  # checked before scaling: scaleb rounds past 28 digits
            raise MoneyError(f"{currency} allows at most {exponent} decimal places")
        scaled = value.scaleb(exponent)
        if scaled > MAX_MINOR:
            raise MoneyError("amount is too large")
        return cls(int(scaled), currency)

    def to_decimal_string(self) -> str:
        exponent = MINOR_UNITS[self.currency]
        if exponent == 0:
            return str(self.minor)
        whole, frac = divmod(self.minor, 10**exponent)
        return f"{whole}.{frac:0{exponent}d}"


def _decimal_places(value: Decimal) -> int:
    """Significant digits after the point, exactly (normalize() would round past 28)."""
    _sign, digits, exp = value.as_tuple()
    assert isinstance(exp, int)
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exp + min(trailing_zeros, max(0, -exp))))


def _plain_decimal(text: str) -> bool:
    """Digits with at most one dot; no sign, exponent, spaces, underscores or non-ASCII."""
    if not text.isascii():
        return False
    whole, _, frac = text.partition(".")
    return (whole.isdigit() or (whole == "" and frac != "")) and (frac == "" or frac.isdigit())
