from collections.abc import Sequence

import pytest

from common.domain.webhook_url import WebhookUrlError, check_webhook_url

DNS = {
    "shop.example": ["93.184.216.34"],
    "dual.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "sneaky.example": ["93.184.216.34", "10.0.0.5"],
    "localhost": ["127.0.0.1", "::1"],
    "metadata.example": ["169.254.169.254"],
}


def resolve(host: str) -> Sequence[str]:
    try:
        return DNS[host.lower().rstrip(".")]
    except KeyError:
        raise OSError("no such host") from None


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/hooks/payments",
        "http://shop.example/h?x=1",
        "https://shop.example:443/h",
        "https://dual.example/h",
        "https://93.184.216.34/h",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/h",
        "HTTPS://SHOP.EXAMPLE/h",
    ],
)
def test_public_urls_are_accepted(url: str) -> None:
    check_webhook_url(url, resolve, allow_private=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://shop.example/h", "http or https"),
        ("/relative/path", "http or https"),
        ("shop.example/h", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("https://user:pw@shop.example/h", "credentials"),
        ("https:///h", "host"),
        ("https://shop.example:99999/h", "valid URL"),
        ("https://shop.example:0/h", "port"),
        ("https://shop.exa mple/h", "spaces"),
        ("https://shop.example/\x00", "control"),
        ("https://bücher.example/h", "ASCII"),
        ("https://unknown.example/h", "does not resolve"),
        ("https://bad_host!.example/h", "not a valid host"),
        ("https://" + "a" * 2050 + ".example/", "at most 2048"),
    ],
)
def test_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(WebhookUrlError, match=reason):
        check_webhook_url(url, resolve, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/h",
        "http://localhost/h",
        "http://10.1.2.3/h",
        "http://192.168.0.1/h",
        "http://172.16.5.4/h",
        "http://169.254.169.254/latest/meta-data",
        "http://metadata.example/",
        "http://sneaky.example/h",
        "http://[::1]/h",
        "http://[::ffff:127.0.0.1]/h",
        "http://[::ffff:7f00:1]/h",
        "http://[fe80::1%25eth0]/h",
        "http://[fd00::1]/h",
        "http://[64:ff9b::a00:1]/h",
        "http://[2002:a00:1::]/h",
        "http://0.0.0.0/h",
        "http://224.0.0.1/h",
        "http://100.64.0.1/h",
        "http://[::7f00:1]/h",
        "http://[::ffff:0:7f00:1]/h",
        "http://[64:ff9b:1::a9fe:a9fe]/h",
        "http://[fec0::1]/h",
        "http://[2001::1]/h",
    ],
)
def test_internal_addresses_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(WebhookUrlError, match="internal"):
        check_webhook_url(url, resolve, allow_private=False)


@pytest.mark.parametrize(
    "url",
    ["http://2130706433/h", "http://0x7f000001/h", "http://0177.0.0.1/h", "http://127.1/h"],
)
def test_numeric_hosts_in_odd_forms_are_refused_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(WebhookUrlError, match="non-standard"):
        check_webhook_url(url, resolve, allow_private=True)


def test_local_development_may_allow_loopback() -> None:
    check_webhook_url("http://127.0.0.1:8082/hooks", resolve, allow_private=True)
    check_webhook_url("http://localhost:8082/hooks", resolve, allow_private=True)


def test_the_check_answers_the_addresses_it_passed_in_the_resolvers_order() -> None:
    assert check_webhook_url("https://dual.example/h", resolve, allow_private=False) == (
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
    )
    assert check_webhook_url("https://93.184.216.34/h", resolve, allow_private=False) == (
        "93.184.216.34",
    )
    assert check_webhook_url("http://[::ffff:7f00:1]/h", resolve, allow_private=True) == (
        "::ffff:7f00:1",
    )
    assert check_webhook_url("http://localhost:8082/h", resolve, allow_private=True) == (
        "127.0.0.1",
        "::1",
    )


def test_the_addresses_answered_are_those_of_the_one_lookup_checked() -> None:
    answers = iter([["93.184.216.34"], ["169.254.169.254"]])  # a TTL-0 name rebinding
    checked = check_webhook_url("https://rebind.example/h", lambda _h: next(answers), False)
    assert checked == ("93.184.216.34",)


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example:8080/h",
        "https://shop.example:8443/h",
        "https://shop.example:22/h",
        "http://93.184.216.34:6379/",
    ],
)
def test_ports_other_than_80_and_443_are_refused_unless_private_urls_are_allowed(
    url: str,
) -> None:
    with pytest.raises(WebhookUrlError, match="webhookUrl port must be one of 80, 443"):
        check_webhook_url(url, resolve, allow_private=False)
    check_webhook_url(url, resolve, allow_private=True)


def test_the_allowed_ports_are_configurable() -> None:
    ports = frozenset({443, 8443})
    check_webhook_url("https://shop.example:8443/h", resolve, False, ports)
    check_webhook_url("https://shop.example/h", resolve, False, ports)  # 443 by default
    with pytest.raises(WebhookUrlError, match="one of 443, 8443"):
        check_webhook_url("http://shop.example/h", resolve, False, ports)  # 80 by default
