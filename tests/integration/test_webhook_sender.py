"""HttpWebhookSender against real HTTP/1.1 servers on loopback, plain and TLS: it dials the
address it is given (never the URL's name) with the URL's host as Host header and TLS server
name, keep-alive reuse, redirects not followed, a huge answer not read, and one deadline for
the whole attempt however slowly the endpoint trickles its answer."""

from __future__ import annotations

import contextlib
import datetime
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.adapters.http_webhook_sender import HttpWebhookSender

LOOPBACK = ["127.0.0.1"]
TLS_NAME = "hooks.rebind.test"
"""Resolves nowhere (.test is reserved): only a dial to the given address can reach the server."""


class Endpoint(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: ClassVar[set[tuple[str, int]]] = set()
    hosts: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        Endpoint.connections.add(self.client_address)
        Endpoint.hosts.append(self.headers["Host"])
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/redirect":
            self._answer(302, b"", {"Location": "http://127.0.0.1:1/elsewhere"})
        elif self.path == "/huge":
            self._answer(200, b"x" * (8 * 1024 * 1024))
        elif self.path == "/silent":
            time.sleep(3)
            self._answer(204, b"")
        elif self.path == "/trickle":
            self._trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", every_s=0.3)
        elif self.path == "/no-content":
            self._answer(204, b"", length=False)  # no Content-Length: a 204 has no body
        else:
            self._answer(200, b'{"ok":true}')

    def _answer(
        self, code: int, body: bytes, headers: dict[str, str] | None = None, length: bool = True
    ) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the sender hangs up on a huge answer
            self.wfile.write(body)

    def _trickle(self, answer: bytes, every_s: float) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the sender hangs up at its deadline
            for i in range(len(answer)):
                self.wfile.write(answer[i : i + 1])
                self.wfile.flush()
                time.sleep(every_s)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Endpoint.connections, Endpoint.hosts = set(), []
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def endpoint() -> Iterator[str]:
    with serving() as port:
        yield f"http://127.0.0.1:{port}"


class Tls:
    """A throwaway authority, a server certificate for TLS_NAME signed by it, and the server
    names clients asked for (SNI)."""

    def __init__(self, directory: Path) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paygate test CA")])
        ca = (
            _certificate(ca_name, ca_name, ca_key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(signs_certificates=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        chain, key_file = directory / "server.pem", directory / "server.key"
        chain.write_bytes(
            _server_certificate(ca_name, ca_key, key.public_key(), now).public_bytes(
                serialization.Encoding.PEM
            )
        )
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.server_names: list[str | None] = []
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(chain, key_file)
        self.context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)


def _server_certificate(
    ca_name: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_NAME)])
    return (
        _certificate(subject, ca_name, key, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_NAME)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _certificate(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[Tls, int]]:
    authority = Tls(tmp_path)
    with serving(authority.context) as port:
        yield authority, port


def test_answers_are_read_so_the_connection_is_reused(endpoint: str) -> None:
    sender = HttpWebhookSender(timeout_s=2)
    for path in ("/hook", "/no-content", "/hook"):
        assert sender.send(f"{endpoint}{path}", LOOPBACK, b"{}", {"webhook-id": "evt_1"}).succeeded
    assert len(Endpoint.connections) == 1


def test_the_given_address_is_dialed_and_the_urls_host_is_the_host_header() -> None:
    with serving() as port:
        sender = HttpWebhookSender(timeout_s=2)
        for host in ("rebind.test", "other.rebind.test", "rebind.test"):
            assert sender.send(f"http://{host}:{port}/hook", LOOPBACK, b"{}", {}).succeeded
        assert Endpoint.hosts == [
            f"rebind.test:{port}",
            f"other.rebind.test:{port}",
            f"rebind.test:{port}",
        ]
        assert len(Endpoint.connections) == 2  # a pool per host name, each kept alive


def test_the_next_checked_address_is_dialed_when_one_refuses() -> None:
    with serving() as port:  # listens on 127.0.0.1 only: 127.0.0.2 refuses
        sender = HttpWebhookSender(timeout_s=2)
        refused = sender.send(f"http://rebind.test:{port}/hook", ["127.0.0.2"], b"{}", {})
        assert (refused.status_code, refused.error) == (None, "connection: NewConnectionError")
        url = f"http://rebind.test:{port}/hook"
        assert sender.send(url, ["127.0.0.2", "127.0.0.1"], b"{}", {}).succeeded
        assert Endpoint.hosts == [f"rebind.test:{port}"]


def test_tls_sends_the_urls_host_as_server_name_and_checks_the_certificate_for_it(
    tls: tuple[Tls, int],
) -> None:
    authority, port = tls
    sender = HttpWebhookSender(timeout_s=2, ca_certs=str(authority.ca_file))
    for _ in range(2):
        assert sender.send(f"https://{TLS_NAME}:{port}/hook", LOOPBACK, b"{}", {}).succeeded
    assert authority.server_names == [TLS_NAME]  # one handshake: the connection is kept
    assert Endpoint.hosts == [f"{TLS_NAME}:{port}"] * 2 and len(Endpoint.connections) == 1


def test_tls_refuses_a_certificate_for_another_name_or_an_untrusted_authority(
    tls: tuple[Tls, int],
) -> None:
    authority, port = tls
    trusting = HttpWebhookSender(timeout_s=2, ca_certs=str(authority.ca_file))
    wrong_name = trusting.send(f"https://elsewhere.test:{port}/hook", LOOPBACK, b"{}", {})
    assert (wrong_name.status_code, wrong_name.error) == (None, "connection: SSLError")
    assert authority.server_names == ["elsewhere.test"]
    system_trust = HttpWebhookSender(timeout_s=2)
    untrusted = system_trust.send(f"https://{TLS_NAME}:{port}/hook", LOOPBACK, b"{}", {})
    assert (untrusted.status_code, untrusted.error) == (None, "connection: SSLError")
    assert Endpoint.hosts == []


def test_a_redirect_is_an_answer_not_followed(endpoint: str) -> None:
    attempt = HttpWebhookSender(timeout_s=2).send(f"{endpoint}/redirect", LOOPBACK, b"{}", {})
    assert attempt.status_code == 302 and not attempt.succeeded


def test_a_huge_answer_is_not_read(endpoint: str) -> None:
    started = time.monotonic()
    attempt = HttpWebhookSender(timeout_s=2).send(f"{endpoint}/huge", LOOPBACK, b"{}", {})
    assert attempt.status_code == 200 and time.monotonic() - started < 1


def test_a_silent_endpoint_is_a_timeout(endpoint: str) -> None:
    attempt = HttpWebhookSender(timeout_s=0.5).send(f"{endpoint}/silent", LOOPBACK, b"{}", {})
    assert (attempt.status_code, attempt.error) == (None, "timeout")
    assert attempt.latency_ms < 1500


def test_a_status_line_trickled_byte_by_byte_ends_at_the_deadline(endpoint: str) -> None:
    sender = HttpWebhookSender(timeout_s=1)
    assert sender.send(f"{endpoint}/hook", LOOPBACK, b"{}", {}).succeeded  # kept alive
    for _ in range(2):  # on the kept-alive connection, then on a new one
        attempt = sender.send(f"{endpoint}/trickle", LOOPBACK, b"{}", {})
        assert (attempt.status_code, attempt.error) == (None, "timeout")
        assert 900 < attempt.latency_ms < 1500
    assert sender.send(f"{endpoint}/hook", LOOPBACK, b"{}", {}).succeeded  # and after it
    assert len(Endpoint.connections) == 3


def test_a_trickled_answer_over_tls_ends_at_the_deadline(tls: tuple[Tls, int]) -> None:
    authority, port = tls
    sender = HttpWebhookSender(timeout_s=1, ca_certs=str(authority.ca_file))
    attempt = sender.send(f"https://{TLS_NAME}:{port}/trickle", LOOPBACK, b"{}", {})
    assert (attempt.status_code, attempt.error) == (None, "timeout")
    assert 900 < attempt.latency_ms < 1500


def test_a_name_given_as_the_address_is_never_resolved(endpoint: str) -> None:
    attempt = HttpWebhookSender(timeout_s=1).send(f"{endpoint}/hook", ["localhost"], b"{}", {})
    assert (attempt.status_code, attempt.error) == (None, "connection: ValueError")
    assert Endpoint.hosts == []
