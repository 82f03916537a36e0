"""A small TCP proxy of our own (there is no `tc netem` here): it sits between a client and a
server and adds latency, drops connections (accepts and never answers) or resets them.

    proxy = TcpProxy(listen_port=38083, target=("127.0.0.1", 38082))
    proxy.start()                      # a background thread with its own event loop
    proxy.set(latency_s=0.5)           # every chunk, both ways, waits 0.5 s
    proxy.set(mode="drop")             # new connections are swallowed: the client times out
    proxy.set(mode="reset")            # new and open connections are reset (RST)
    proxy.set(mode="pass")
    proxy.stop()

Knobs apply to new connections at once; `reset` also cuts the open ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["pass", "drop", "reset"]
_CHUNK = 65536


@dataclass
class ProxyStats:
    connections: int = 0
    dropped: int = 0
    reset: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    trickled: int = 0
    """Answers forwarded one byte at a time."""


@dataclass
class TcpProxy:
    listen_port: int
    target: tuple[str, int]
    host: str = "127.0.0.1"
    mode: Mode = "pass"
    latency_s: float = 0.0
    trickle_s: float = 0.0
    """When set, what the target answers is forwarded one byte every `trickle_s` seconds (an
    endpoint that trickles its answer: each read is quick, the answer never done)."""
    stats: ProxyStats = field(default_factory=ProxyStats)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.listen_port}"

    def start(self) -> None:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, self.host, self.listen_port, reuse_address=True)
            )
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(
            target=run, name=f"tcp-proxy-{self.listen_port}", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"proxy on {self.listen_port} did not start")

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def set(
        self,
        mode: Mode | None = None,
        latency_s: float | None = None,
        trickle_s: float | None = None,
    ) -> None:
        if latency_s is not None:
            self.latency_s = latency_s
        if trickle_s is not None:
            self.trickle_s = trickle_s
        if mode is not None:
            self.mode = mode
            if mode == "reset" and self._loop is not None:
                self._loop.call_soon_threadsafe(self._reset_open)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._reset_open()

    def _reset_open(self) -> None:
        for writer in list(self._open):
            _reset(writer)
        self._open.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        if self.mode == "reset":
            self.stats.reset += 1
            _reset(writer)
            return
        if self.mode == "drop":
            self.stats.dropped += 1
            self._open.add(writer)
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while await reader.read(_CHUNK):
                    pass  # swallow everything, answer nothing
            self._open.discard(writer)
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, upstream=True),
                self._pipe(up_reader, writer, upstream=False),
            )
        finally:
            self._open.difference_update((writer, up_writer))
            for w in (writer, up_writer):
                w.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if upstream:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                if not upstream and self.trickle_s:
                    self.stats.trickled += 1
                    for i in range(len(data)):
                        writer.write(data[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(self.trickle_s)
                    continue
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            _reset(writer)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer sees a connection reset, not an orderly close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
