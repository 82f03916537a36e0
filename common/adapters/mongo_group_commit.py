"""Group commit: concurrent single-document writes from one process's threads become one bulk
write. FerretDB on SQLite serializes writes and pays per statement (one insert_many of 500
documents costs about what 40 insert_one calls do), so a batch of payments processed on a
thread pool writes its claims, then its outcomes, in a few round trips instead of one each.

No timer and no added wait: the first caller leads, writes whatever is pending, and keeps
writing what arrived meanwhile until nothing is left; the others wait for their own result.
Each caller still gets its own answer (or exception), so the port's contract is unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(
        self, write: Callable[[Sequence[T]], Sequence[R | Exception]], max_batch: int = 200
    ) -> None:
        """`write` gets the pending items and returns, in order, a result or an exception
        for each; if it raises, every item of that batch gets the exception."""
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[tuple[T, Future[R]]] = []
        self._leading = False

    def submit(self, item: T) -> R:
        future: Future[R] = Future()
        with self._lock:
            self._pending.append((item, future))
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        return future.result()

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                if not batch:
                    self._leading = False
                    return
            try:
                results = self._write([item for item, _f in batch])
            except Exception as exc:
                for _item, future in batch:
                    future.set_exception(exc)
                continue
            for (_item, future), result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
