"""The dashboard acts on a POST only from this machine, on its own loopback address, from
one of its own pages (harness/dashboard/same_origin.py)."""

from __future__ import annotations

import pytest

from harness.dashboard.same_origin import refusal

HOST = "127.0.0.1:8090"
OWN = f"http://{HOST}"


@pytest.mark.parametrize(
    ("host", "origin", "referer"),
    [
        (HOST, OWN, None),
        (HOST, None, f"{OWN}/payments/tx"),
        ("localhost:8090", "http://localhost:8090", None),
        ("[::1]:8090", "http://[::1]:8090", None),
    ],
)
def test_a_post_from_its_own_pages_acts(host: str, origin: str | None, referer: str | None) -> None:
    assert refusal("127.0.0.1", host, origin, referer) is None


@pytest.mark.parametrize(
    ("peer", "host", "origin", "referer"),
    [
        ("127.0.0.1", HOST, None, None),  # neither header: not a page of ours
        ("127.0.0.1", HOST, "http://evil.example", None),
        ("127.0.0.1", HOST, "null", f"{OWN}/"),  # a sandboxed frame
        ("127.0.0.1", HOST, "http://127.0.0.1:9999", None),  # another local port
        ("127.0.0.1", HOST, None, "http://evil.example/127.0.0.1:8090/"),
        ("127.0.0.1", "evil.example", "http://evil.example", None),  # DNS rebinding
        ("127.0.0.1", "127.0.0.1.evil.example:8090", "http://127.0.0.1.evil.example:8090", None),
        ("10.0.0.7", HOST, OWN, None),  # another machine
        (None, HOST, OWN, None),
        ("127.0.0.1", None, OWN, None),
    ],
)
def test_any_other_post_is_refused(
    peer: str | None, host: str | None, origin: str | None, referer: str | None
) -> None:
    assert refusal(peer, host, origin, referer)
