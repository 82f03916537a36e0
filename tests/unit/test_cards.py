from datetime import date

import pytest

from common.domain.cards import CardError, brand_of, check_cvc, check_expiry, check_number

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("4242 4242 4242 4242", "visa"),
        ("4000-0000-0000-0002", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3566002020360505", "jcb"),
        ("36227206271667", "diners"),
        ("6200000000000005", "unionpay"),
    ],
)
def test_valid_numbers_and_their_brands(number: str, brand: str) -> None:
    digits = check_number(number)
    assert digits.isdigit()
    assert brand_of(digits) == brand


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("4242424242424241", "Luhn"),
        ("4242", "12 to 19"),
        ("42424242424242424242", "12 to 19"),
        ("4242x24242424242", "only digits"),
        ("４２４２４２４２４２４２４２４２", "only digits"),
        ("", "only digits"),
    ],
)
def test_bad_numbers_are_refused_without_echoing_digits(number: str, message: str) -> None:
    with pytest.raises(CardError, match=message) as info:
        check_number(number)
    assert "4242" not in str(info.value)


def test_a_card_is_valid_through_its_expiry_month() -> None:
    check_expiry(11, 2026, TODAY)
    check_expiry(1, 2030, TODAY)
    with pytest.raises(CardError, match="expired"):
        check_expiry(10, 2026, TODAY)


@pytest.mark.parametrize(("month", "year"), [(0, 2030), (13, 2030), (12, 30), (12, 2100)])
def test_impossible_expiry_dates_are_refused(month: int, year: int) -> None:
    with pytest.raises(CardError):
        check_expiry(month, year, TODAY)


def test_cvc_shape_depends_on_brand() -> None:
    check_cvc("123", "visa")
    check_cvc("1234", "amex")
    for bad, brand in [("12", "visa"), ("1234", "visa"), ("123", "amex"), ("12a", "visa")]:
        with pytest.raises(CardError):
            check_cvc(bad, brand)


def test_a_card_error_names_its_field() -> None:
    today = date(2026, 12, 2)
    cases = [
        (lambda: check_number("4242424242424241"), "number"),
        (lambda: check_cvc("12", "visa"), "cvc"),
        (lambda: check_expiry(13, 2030, today), "expMonth"),
        (lambda: check_expiry(12, 2099, today), "expYear"),
        (lambda: check_expiry(1, 2020, today), "expMonth"),
    ]
    for check, field in cases:
        with pytest.raises(CardError) as refused:
            check()
        assert refused.value.field == field
