from decimal import Decimal

import pytest

from common.domain.money import MINOR_UNITS, Money, MoneyError


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("49.99", "EUR", 4999),
        (49.99, "EUR", 4999),
        (10, "EUR", 1000),
        ("0.01", "USD", 1),
        ("1000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        ("12.5", "EUR", 1250),
        (Decimal("7.10"), "GBP", 710),
        ("1.0", "JPY", 1),
    ],
)
def test_parse_to_minor_units(amount: object, currency: str, minor: int) -> None:
    money = Money.parse(amount, currency)  # type: ignore[arg-type]
    assert money == Money(minor, currency)


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("0", "EUR", "greater than 0"),
        ("-1", "EUR", "plain decimal"),
        (-5, "EUR", "greater than 0"),
        ("49.999", "EUR", "at most 2 decimal places"),
        ("1.5", "JPY", "at most 0 decimal places"),
        ("1e3", "EUR", "plain decimal"),
        ("NaN", "EUR", "plain decimal"),
        (float("inf"), "EUR", "finite"),
        ("", "EUR", "plain decimal"),
        (" 12", "EUR", "plain decimal"),
        ("١٢", "EUR", "plain decimal"),
        ("1_000", "EUR", "plain decimal"),
        (True, "EUR", "boolean"),
        ("10", "XXX", "unknown currency"),
        ("10", "eur", "unknown currency"),
        ("10000000000000000", "EUR", "too large"),
        ("9" * 41, "EUR", "plain decimal"),
        ("1.00000000000000000000000000001", "EUR", "at most 2 decimal places"),
        ("0.0099999999999999999999999999999", "EUR", "at most 2 decimal places"),
    ],
)
def test_bad_amounts_are_refused_with_a_reason(amount: object, currency: str, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        Money.parse(amount, currency)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(4999, "EUR"), "49.99"),
        (Money(5, "EUR"), "0.05"),
        (Money(1000, "JPY"), "1000"),
        (Money(1, "KWD"), "0.001"),
    ],
)
def test_decimal_string_round_trips(money: Money, text: str) -> None:
    assert money.to_decimal_string() == text
    assert Money.parse(text, money.currency) == money


def test_currency_table_is_iso_4217_shaped() -> None:
    assert len(MINOR_UNITS) > 150
    assert all(len(c) == 3 and c.isupper() for c in MINOR_UNITS)
    assert MINOR_UNITS["EUR"] == 2 and MINOR_UNITS["JPY"] == 0 and MINOR_UNITS["KWD"] == 3


def test_money_itself_refuses_nonsense() -> None:
    with pytest.raises(MoneyError):
        Money(0, "EUR")
    with pytest.raises(MoneyError):
        Money(1, "ABC")


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [("1.00", "XXZ", "currency"), ("1.001", "EUR", "amount"), ("-1", "EUR", "amount")],
)
def test_a_money_error_names_its_field(amount: str, currency: str, field: str) -> None:
    with pytest.raises(MoneyError) as refused:
        Money.parse(amount, currency)
    assert refused.value.field == field
