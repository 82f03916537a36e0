"""What `/status.json` answers (and the overview shows first): the harness's processes, the
pipeline (harness/pipeline.py) and the dead letters by topic, condition and state
(harness/dlq.py); and a snapshot shared by every open page for a few seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from confluent_kafka import KafkaException

from common.domain.errors import TransientError
from harness import dlq, pipeline, stack
from harness.infra import manager
from harness.infra.settings import InfraSettings

T = TypeVar("T")


def status_snapshot(s: InfraSettings) -> dict[str, Any]:
    services = [
        {"name": st.name, "address": st.address, "state": st.state} for st in manager.status(s)
    ] + [
        {"name": c.process.name, "address": c.url or "", "state": state}
        for c, state in stack.status(s)
    ]
    snap = {"services": services, **pipeline.collect(s).as_json()}
    try:
        snap["deadLettersByReason"] = dlq.summary(s)
    except (KafkaException, TransientError) as exc:
        snap["deadLettersByReason"] = {}
        snap["errors"]["dead letters"] = str(exc)
    return snap


class Shared(Generic[T]):
    """The last value of `read`, read again once it is `max_age_s` old: however many pages
    are open, the sources are read once per period."""

    def __init__(self, read: Callable[[], Awaitable[T]], max_age_s: float) -> None:
        self._read, self._max_age_s = read, max_age_s
        self._lock = asyncio.Lock()
        self._at = -max_age_s
        self._value: T | None = None

    async def get(self) -> T:
        async with self._lock:
            if self._value is None or time.monotonic() - self._at >= self._max_age_s:
                self._value = await self._read()
                self._at = time.monotonic()
            return self._value
