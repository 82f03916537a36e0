"""Remember a lookup's answers for a while: for values that change rarely and are asked for on
every delivery (a merchant's webhook secret), one process asks its store once per `ttl_s`
per key instead of once per use. A missing answer (None) is not remembered, so a merchant
created a moment ago is found at once; a changed value takes effect within `ttl_s`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentAnswers(Generic[K, V]):
    def __init__(
        self,
        lookup: Callable[[K], V | None],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._answers: dict[K, tuple[float, V]] = {}

    def __call__(self, key: K) -> V | None:
        now = self._clock()
        with self._lock:
            found = self._answers.get(key)
        if found is not None and found[0] > now:
            return found[1]
        value = self._lookup(key)  # outside the lock: a slow store holds up only this key
        if value is not None:
            with self._lock:
                if len(self._answers) >= self._max_entries:
                    self._answers.clear()
                self._answers[key] = (now + self._ttl_s, value)
        return value
