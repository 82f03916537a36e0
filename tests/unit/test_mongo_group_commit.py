"""GroupCommit: concurrent submits share bulk writes, each caller gets its own answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from common.adapters.mongo_group_commit import GroupCommit


def test_concurrent_submits_are_written_together_and_answered_each() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def write(items: Sequence[int]) -> list[int | Exception]:
        gate.wait(5)  # the first write waits until the others queued up behind it
        batches.append(list(items))
        return [i * 10 if i % 7 else ValueError(f"no {i}") for i in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    with ThreadPoolExecutor(16) as pool:
        futures = {i: pool.submit(group.submit, i) for i in range(1, 17)}
        time.sleep(0.3)
        gate.set()
        for i, f in futures.items():
            if i % 7:
                assert f.result() == i * 10
            else:
                with pytest.raises(ValueError, match=f"no {i}"):
                    f.result()
    # the first caller's write, then one write of everything that queued behind it
    assert [len(b) for b in batches] == [1, 15]
    assert sorted(i for b in batches for i in b) == list(range(1, 17))


def test_a_failed_write_fails_its_batch_and_the_next_one_still_runs() -> None:
    calls = 0

    def write(items: Sequence[str]) -> list[str | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return [s.upper() for s in items]

    group: GroupCommit[str, str] = GroupCommit(write)
    with pytest.raises(ConnectionError):
        group.submit("a")
    assert group.submit("b") == "B"


def test_batches_are_capped() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def write(items: Sequence[int]) -> list[int | Exception]:
        gate.wait(5)
        sizes.append(len(items))
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write, max_batch=4)
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(group.submit, i) for i in range(12)]
        time.sleep(0.3)
        gate.set()
        assert [f.result() for f in futures] == list(range(12))
    assert max(sizes) <= 4
