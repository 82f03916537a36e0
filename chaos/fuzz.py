# ruff: noqa: RUF001  (look-alike characters are the point of these cases)
"""A fuzzer of our own over raw request bodies and headers: huge, malformed, wrong
encodings, unicode tricks, request-smuggling shapes and SSRF-bait webhook URLs.

Each case says what it may get: `reject` (anything but 202, never a 5xx) or `any` (never a
5xx). The cases are data; `send_raw` is the only I/O (a raw socket, so malformed requests go
out exactly as written).
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Expect = Literal["reject", "any"]


@dataclass(frozen=True)
class Case:
    label: str
    raw: bytes
    """The whole HTTP/1.1 request as sent."""
    expect: Expect


@dataclass(frozen=True)
class Answer:
    case: Case
    status: int
    """0: no status line came back (the connection closed or timed out)."""
    body: bytes


def request(
    method: str,
    path: str,
    headers: list[tuple[str | bytes, str | bytes]],
    body: bytes = b"",
    content_length: bool = True,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in headers:
        n = name.encode() if isinstance(name, str) else name
        v = value.encode() if isinstance(value, str) else value
        lines.append(n + b": " + v)
    if content_length:
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def send_raw(host: str, port: int, raw: bytes, timeout_s: float = 5) -> tuple[int, bytes]:
    """Send `raw`, read until the server closes (or `timeout_s` of silence); the final status
    and body (0 when no status line came back)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        # the server may answer (413, 400) and close before reading everything
        with contextlib.suppress(OSError):
            sock.sendall(raw)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    data = b"".join(chunks)
    while data.startswith(b"HTTP/1.1 100"):
        data = data.partition(b"\r\n\r\n")[2]
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    try:
        return int(parts[1]), body
    except (IndexError, ValueError):
        return 0, data


def valid_payment(webhook_url: str, ref: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "amount": "12.34",
        "currency": "EUR",
        "webhookUrl": webhook_url,
        "reference": ref,
        "card": {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"},
    }
    card = {**doc["card"], **changes.pop("card", {})}
    return {**doc, **changes, "card": card}


SSRF_BAIT = (
    "http://127.0.0.1/hooks",
    "http://127.1/hooks",
    "http://0/hooks",
    "http://0.0.0.0/hooks",
    "http://2130706433/hooks",
    "http://0x7f000001/hooks",
    "http://0177.0.0.1/hooks",
    "http://017700000001/hooks",
    "http://2852039166/latest/meta-data",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hooks",
    "http://[::]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[::ffff:7f00:1]/hooks",
    "http://[0:0:0:0:0:ffff:169.254.169.254]/latest",
    "http://[::ffff:a9fe:a9fe]/latest",
    "http://[64:ff9b::a9fe:a9fe]/latest",
    "http://[2002:7f00:1::]/hooks",
    "http://[fe80::1%25eth0]/hooks",
    "http://[fd00::1]/hooks",
    "http://10.0.0.1/hooks",
    "http://192.168.1.1/hooks",
    "http://172.16.0.1/hooks",
    "http://100.64.0.1/hooks",
    "http://localhost/hooks",
    "http://localhost.:38082/hooks",
    "http://LOCALHOST/hooks",
    "http://user@127.0.0.1/hooks",
    "http://shop.example@127.0.0.1/hooks",
    "http://127.0.0.1:38082#@shop.example/hooks",
    "http://127.0.0.1%2f@shop.example/hooks",
    "http://①②⑦.0.0.1/hooks",
    "http://１２７.０.０.１/hooks",
    "http://127.0.0.1\u3002/hooks",
    "http://xn--n3h.127.0.0.1.nip.io/hooks",
    "gopher://127.0.0.1:6379/_PING",
    "file:///etc/passwd",
    "dict://127.0.0.1:6379/info",
    "ftp://127.0.0.1/",
    "http:/127.0.0.1/hooks",
    "http:///127.0.0.1/hooks",
    "//127.0.0.1/hooks",
    "http://127.0.0.1:0/hooks",
    "http://127.0.0.1:99999/hooks",
    "http://[::ffff:127.0.0.1]:38082/hooks",
    "http://metadata.google.internal/computeMetadata/v1/",
)


def ssrf_cases(api_key: str, reference: str) -> list[Case]:
    """Bait webhook URLs: a deployed gateway (private targets refused) must refuse each."""
    return [
        Case(
            f"SSRF bait {url}",
            request(
                "POST",
                "/api/payments",
                [("Content-Type", "application/json"), ("X-API-Key", api_key)],
                json.dumps(valid_payment(url, f"{reference}-ssrf-{i}")).encode(),
            ),
            "reject",
        )
        for i, url in enumerate(SSRF_BAIT)
    ]


def body_cases(api_key: str, webhook_url: str, reference: str) -> list[Case]:
    """Bodies and headers a hostile client sends to POST /api/payments."""
    json_h: list[tuple[str | bytes, str | bytes]] = [
        ("Content-Type", "application/json"),
        ("X-API-Key", api_key),
    ]
    counter = iter(range(10_000))

    def pay(**changes: Any) -> bytes:
        return json.dumps(
            valid_payment(webhook_url, f"{reference}-{next(counter)}", **changes)
        ).encode()

    def post(
        label: str,
        body: bytes,
        expect: Expect = "reject",
        headers: list[tuple[str | bytes, str | bytes]] | None = None,
    ) -> Case:
        return Case(label, request("POST", "/api/payments", headers or json_h, body), expect)

    def card(label: str, number: str) -> Case:
        return post(f"card number {label}", pay(card={"number": number}))

    raw_ok = pay()
    cases = [
        # size
        post("5 MB body", b'{"description": "' + b"x" * 5_000_000 + b'"}'),
        post("70 KB valid-looking body", pay(description="x" * 70_000)),
        post("100k nested arrays", b"[" * 100_000 + b"]" * 100_000),
        post("100k nested objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        post("50k-key object", json.dumps({f"k{i}": i for i in range(50_000)}).encode()),
        # encodings
        post("invalid UTF-8 in a string", raw_ok.replace(b'"12.34"', b'"12.34\xff\xfe"')),
        post("UTF-16 with BOM", json.dumps(valid_payment(webhook_url, "x")).encode("utf-16")),
        post("UTF-8 BOM prefix", b"\xef\xbb\xbf" + pay(), "any"),
        post(
            "latin-1 charset declared",
            pay(),
            "any",
            [("Content-Type", "application/json; charset=latin-1"), ("X-API-Key", api_key)],
        ),
        post(
            "lone surrogate in reference",
            pay().replace(b'"reference": "', b'"reference": "\\ud800'),
            "any",
        ),
        post("NUL in description", pay(description="a\u0000b"), "any"),
        post(
            "RTL override and zero-width in description",
            pay(description="\u202egnp.exe\u200b"),
            "any",
        ),
        post("emoji metadata", pay(metadata={"🛒": "🧾" * 100}), "any"),
        post("truncated JSON", raw_ok[:-7]),
        post("JSON then garbage", raw_ok + b"}}}"),
        post("top-level array", b"[" + raw_ok + b"]"),
        post("top-level string", b'"hello"'),
        post("empty body", b""),
        post("null body", b"null"),
        post(
            "duplicate amount keys",
            raw_ok.replace(b'"amount": "12.34"', b'"amount": "1.00", "amount": "999999.99"'),
            "any",
        ),
        # numbers
        post("amount NaN", raw_ok.replace(b'"12.34"', b"NaN")),
        post("amount Infinity", raw_ok.replace(b'"12.34"', b"Infinity")),
        post("amount 1e400", raw_ok.replace(b'"12.34"', b"1e400")),
        post("amount -0", pay(amount="-0")),
        post("amount 0.00", pay(amount="0.00")),
        post("amount negative", pay(amount="-12.34")),
        post("amount exponent string", pay(amount="1e2")),
        post("amount Arabic-Indic digits", pay(amount="١٢.٣٤")),
        post("amount full-width digits", pay(amount="１２.３４")),
        post("amount with spaces", pay(amount=" 12.34 ")),
        post("amount comma decimal", pay(amount="12,34")),
        post("amount hex", pay(amount="0x10")),
        post("amount underscore", pay(amount="1_000.00")),
        post("amount 10^30", pay(amount="1" + "0" * 30)),
        post("amount bool", pay(amount=True)),
        post("expMonth 13", pay(card={"expMonth": 13})),
        post("expMonth bool", pay(card={"expMonth": True})),
        post("expMonth as string", pay(card={"expMonth": "12"})),
        post("expYear 10^20", pay(card={"expYear": 10**20})),
        # cards
        card("full-width digits", "４２４２４２４２４２４２４２４２"),
        card("Arabic-Indic digits", "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢"),
        card("Devanagari digits", "४२४२४२४२४२४२४२४२"),
        card("zero-width joiner inside", "4242\u200d4242\u200d4242\u200d4242"),
        card("NUL inside", "4242\u00004242424242424"),
        card("as superscripts", "⁴²⁴²⁴²⁴²⁴²⁴²⁴²⁴²"),
        card("fails Luhn", "4242424242424241"),
        card("too short", "4242"),
        card("letters", "4242abcd42424242"),
        post("card number as a JSON number", pay(card={"number": 4242424242424242})),
        post("cvc 5 digits", pay(card={"cvc": "12345"})),
        post("cvc full-width", pay(card={"cvc": "１２３"})),
        # fields
        post("currency lowercase", pay(currency="eur")),
        post("currency Cyrillic homoglyph", pay(currency="ЕUR")),
        post("currency with newline", pay(currency="EUR\n")),
        post("currency with NUL", pay(currency="EUR\u0000")),
        post("unknown field cvv", pay(cvv="123")),
        post("unknown nested field", pay(card={"pin": "0000"})),
        post("21 metadata pairs", pay(metadata={f"k{i}": "v" for i in range(21)})),
        post("metadata nested object", pay(metadata={"a": {"b": "c"}})),
        post("reference 129 chars", pay(reference="r" * 129)),
        post("webhookUrl 3000 chars", pay(webhookUrl="http://127.0.0.1/" + "a" * 3000)),
        post("webhookUrl javascript:", pay(webhookUrl="javascript:alert(1)")),
        post("webhookUrl with CRLF", pay(webhookUrl="http://127.0.0.1/\r\nX-Injected: 1")),
        post("webhookUrl relative", pay(webhookUrl="/hooks")),
    ]
    cases += header_cases(api_key, raw_ok)
    return cases


def header_cases(api_key: str, body: bytes) -> list[Case]:
    ct: tuple[str | bytes, str | bytes] = ("Content-Type", "application/json")
    key: tuple[str | bytes, str | bytes] = ("X-API-Key", api_key)

    def post(
        label: str,
        headers: list[tuple[str | bytes, str | bytes]],
        expect: Expect = "reject",
        raw_body: bytes = body,
    ) -> Case:
        return Case(label, request("POST", "/api/payments", headers, raw_body), expect)

    def raw(label: str, data: bytes, expect: Expect = "reject") -> Case:
        return Case(label, data, expect)

    return [
        post("no API key", [ct]),
        post("API key with é", [ct, ("X-API-Key", api_key + "é")]),
        post("API key latin-1 bytes", [ct, ("X-API-Key", api_key.encode() + b"\xe9")]),
        post("API key 100 KB", [ct, ("X-API-Key", "k" * 100_000)]),
        post("API key with NUL", [ct, ("X-API-Key", api_key.encode() + b"\x00")]),
        post("API key of another case", [ct, ("X-API-Key", api_key.upper())]),
        post("API key as Bearer", [ct, ("Authorization", f"Bearer {api_key}")]),
        post("two API keys, bad first", [ct, ("X-API-Key", "pgk_wrong"), key], "any"),
        post("two API keys, good first", [ct, key, ("X-API-Key", "pgk_wrong")], "any"),
        post("no content type", [key]),
        post("text/plain", [("Content-Type", "text/plain"), key]),
        post("form content type", [("Content-Type", "application/x-www-form-urlencoded"), key]),
        post("multipart", [("Content-Type", "multipart/form-data; boundary=x"), key]),
        post(
            "content type with charset utf-16",
            [("Content-Type", "application/json; charset=utf-16"), key],
            "any",
        ),
        post("content type upper case", [("Content-Type", "APPLICATION/JSON"), key], "any"),
        post("Idempotency-Key 256 chars", [ct, key, ("Idempotency-Key", "i" * 256)]),
        post("Idempotency-Key latin-1 bytes", [ct, key, ("Idempotency-Key", b"caf\xe9")]),
        post("Idempotency-Key with control char", [ct, key, ("Idempotency-Key", b"a\x01b")]),
        post("Idempotency-Key empty", [ct, key, ("Idempotency-Key", "")]),
        post("10k headers", [ct, key, *((f"X-F{i}", "v") for i in range(10_000))]),
        raw(
            "header with obs-fold",
            request("POST", "/api/payments", [ct, key, ("X-A", "a\r\n b")], body),
            "any",
        ),
        raw(
            "header name with space",
            request("POST", "/api/payments", [ct, key, ("X A", "b")], body),
        ),
        raw(
            "CRLF injected second API key",
            request("POST", "/api/payments", [ct, key, ("X-A", "a\r\nX-API-Key: x")], body),
            "any",
        ),
        raw(
            "Content-Length larger than body",
            request(
                "POST",
                "/api/payments",
                [ct, key, ("Content-Length", str(len(body) + 100))],
                body,
                content_length=False,
            ),
        ),
        raw(
            "Content-Length smaller than body",
            request(
                "POST",
                "/api/payments",
                [ct, key, ("Content-Length", "10")],
                body,
                content_length=False,
            ),
        ),
        raw(
            "two Content-Lengths",
            request("POST", "/api/payments", [ct, key, ("Content-Length", "5")], body),
        ),
        raw(
            "TE and CL (smuggling)",
            request(
                "POST",
                "/api/payments",
                [ct, key, ("Transfer-Encoding", "chunked")],
                b"0\r\n\r\nPOST /api/payments HTTP/1.1\r\n\r\n",
            ),
        ),
        raw(
            "malformed chunked body",
            request(
                "POST",
                "/api/payments",
                [ct, key, ("Transfer-Encoding", "chunked")],
                b"zz\r\nabc\r\n0\r\n\r\n",
                content_length=False,
            ),
        ),
        raw(
            "absolute-form request line",
            b"POST http://169.254.169.254/api/payments HTTP/1.1\r\n"
            b"Host: 169.254.169.254\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"X-API-Key: " + api_key.encode() + b"\r\nContent-Length: 2\r\n\r\n{}",
        ),
        raw("HTTP/0.9 request", b"GET /health\r\n"),
        raw("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 50),
        raw("100 KB URL", request("GET", "/api/payments/" + "a" * 100_000, [key])),
        raw("path traversal", request("GET", "/api/payments/..%2f..%2fetc%2fpasswd", [key])),
        raw("NUL in path", request("GET", "/api/payments/%00", [key])),
        raw("unicode path", request("GET", "/api/payments/%F0%9F%92%B3", [key])),
        raw(
            "raw non-ASCII path",
            b"GET /api/payments/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"X-API-Key: " + api_key.encode() + b"\r\n\r\n",
        ),
        raw(
            "resend of unknown payment", request("POST", "/api/payments/nope/webhook/resend", [key])
        ),
        raw("PATCH", request("PATCH", "/api/payments", [ct, key], body)),
        raw("OPTIONS", request("OPTIONS", "/api/payments", [key])),
        raw("TRACE", request("TRACE", "/api/payments", [key])),
        raw(
            "query string flood",
            request("GET", "/health?" + "&".join(f"a{i}=b" for i in range(20_000)), []),
        ),
        raw(
            "Expect 100-continue",
            request("POST", "/api/payments", [ct, key, ("Expect", "100-continue")], body),
            "any",
        ),
    ]


def judge(answers: list[Answer], accepted: Callable[[Answer], bool]) -> list[str]:
    """Problems: a 5xx, or an answer that accepted what should have been refused."""
    problems = []
    for a in answers:
        if a.status >= 500:
            problems.append(f"{a.case.label}: {a.status} {a.body[:200]!r}")
        elif a.case.expect == "reject" and accepted(a):
            problems.append(f"{a.case.label}: accepted ({a.status})")
    return problems
