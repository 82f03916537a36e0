"""The chaos suite's TCP proxy: passes bytes through, adds latency, drops, resets."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from chaos.tcp_proxy import TcpProxy

pytestmark = pytest.mark.smoke


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    p = TcpProxy(port, ("127.0.0.1", server.server_address[1]))
    p.start()
    yield p
    p.stop()
    server.shutdown()
    server.server_close()


def roundtrip(p: TcpProxy, payload: bytes = b"ping", timeout: float = 3) -> bytes:
    with socket.create_connection(("127.0.0.1", p.listen_port), timeout=timeout) as s:
        s.sendall(payload)
        return s.recv(4096)


def test_passes_bytes_both_ways(proxy: TcpProxy) -> None:
    assert roundtrip(proxy) == b"ping"
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == 4


def test_latency_delays_each_direction(proxy: TcpProxy) -> None:
    proxy.set(latency_s=0.3)
    started = time.monotonic()
    assert roundtrip(proxy) == b"ping"
    assert time.monotonic() - started >= 0.6


def test_drop_swallows_and_never_answers(proxy: TcpProxy) -> None:
    proxy.set(mode="drop")
    with pytest.raises(TimeoutError):
        roundtrip(proxy, timeout=0.5)
    proxy.set(mode="pass")
    assert roundtrip(proxy) == b"ping"


def test_reset_cuts_new_and_open_connections(proxy: TcpProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=3) as open_conn:
        open_conn.sendall(b"a")
        assert open_conn.recv(10) == b"a"
        proxy.set(mode="reset")
        time.sleep(0.2)
        with pytest.raises(ConnectionResetError):
            open_conn.sendall(b"b")
            open_conn.recv(10)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        roundtrip(proxy)
