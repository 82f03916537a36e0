"""One overall deadline for work that blocks on a socket many times (connect, TLS handshake,
send, every read of an answer): at the deadline, one watcher thread shuts down the sockets of
the work still running, so whatever call is blocked on them returns at once.

A socket's own timeout bounds each call, not their sum: an endpoint that sends its status
line one byte a second never trips it. Shutting the connection down from another thread ends
every blocked call on it, TLS included. The watcher holds a duplicate of each descriptor, so
it never touches the socket object the worker uses (an SSLSocket is not thread-safe), and a
descriptor the worker closes and the system reuses is never shut by mistake.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time


class Deadline:
    """The deadline of one piece of work (`time.monotonic()` seconds) and its sockets."""

    def __init__(self, at: float, lock: threading.Condition) -> None:
        self.at = at
        self.expired = False
        """Set before the sockets are shut: a failure seen after it is the deadline's."""
        self._lock = lock
        self._watched: list[socket.socket] = []
        self._finished = False

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock`'s connection down at the deadline (at once if it has passed)."""
        with self._lock:
            if self._finished or sock.fileno() < 0:
                return
            duplicate = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
            self._watched.append(duplicate)
            if self.expired:
                _shut(duplicate)

    def finish(self) -> None:
        """The work is over: its sockets are left alone from now on."""
        with self._lock:
            self._finished = True
            watched, self._watched = self._watched, []
        for duplicate in watched:
            duplicate.close()

    def _expire(self) -> None:
        """Called by the watcher, holding the lock."""
        if self._finished:
            return
        self.expired = True
        for duplicate in self._watched:
            _shut(duplicate)


class DeadlineWatcher:
    """Hands out deadlines and enforces them with one daemon thread, started on first use."""

    def __init__(self, name: str = "socket-deadlines") -> None:
        self._name = name
        self._lock = threading.Condition()
        self._due: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def start(self, seconds: float) -> Deadline:
        """A deadline `seconds` from now."""
        deadline = Deadline(time.monotonic() + seconds, self._lock)
        with self._lock:
            heapq.heappush(self._due, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if self._due[0][2] is deadline:
                self._lock.notify()
        return deadline

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    heapq.heappop(self._due)[2]._expire()
                self._lock.wait(self._due[0][0] - now if self._due else None)


def _shut(duplicate: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected yet, or already down
        duplicate.shutdown(socket.SHUT_RDWR)
