"""The overview's charts as numbers: pure arithmetic over offsets and timestamps, no I/O.

The last WINDOW_S seconds are cut into BUCKETS buckets of BUCKET_S seconds, aligned on the
clock so that a bucket's edges stay the same from one refresh to the next (the offsets of a
past edge never change, so they are read once). A topic's records published in a bucket are
the difference of its partitions' offsets at the bucket's two edges: a count, not a scan.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from harness.dashboard.topic_window import Position

BUCKET_S = 10
BUCKETS = 60
WINDOW_S = BUCKET_S * BUCKETS
LATENCY_SAMPLES = 3
"""Payments sampled per bucket for the latency chart: the first one settled in the bucket on
each of the first LATENCY_SAMPLES partitions that settled any."""

Offsets = Mapping[int, int]
"""partition → offset"""


@dataclass(frozen=True)
class Charts:
    edges: list[datetime]
    """BUCKETS + 1 bucket edges, oldest first; the last is the end of the last full bucket."""
    accepted_per_s: list[float]
    settled_per_s: list[float]
    latency_median_ms: list[float | None]
    """Submit → webhook delivered (its first 2xx), the median of the bucket's samples; None
    where no sampled payment of the bucket has been delivered."""
    latency_max_ms: list[float | None]

    @property
    def empty(self) -> bool:
        return not any(self.accepted_per_s) and not any(self.settled_per_s)


def bucket_edges(now: datetime) -> list[datetime]:
    """The edges of the last BUCKETS full buckets before `now`, oldest first."""
    end = int(now.timestamp()) // BUCKET_S * BUCKET_S
    return [datetime.fromtimestamp(end - BUCKET_S * (BUCKETS - i), UTC) for i in range(BUCKETS + 1)]


def per_second(at_edges: Sequence[Offsets]) -> list[float]:
    """Records per second in each bucket, from the offsets at its edges."""
    return [
        sum(max(0, b[p] - a.get(p, b[p])) for p in b) / BUCKET_S
        for a, b in itertools.pairwise(at_edges)
    ]


def sample_positions(at_edges: Sequence[Offsets]) -> list[list[Position]]:
    """Per bucket, the positions of the records to sample: the first record of the bucket on
    each of the first LATENCY_SAMPLES partitions that have one."""
    out = []
    for a, b in itertools.pairwise(at_edges):
        found = [(p, a[p]) for p in sorted(b) if p in a and a[p] < b[p]]
        out.append(found[:LATENCY_SAMPLES])
    return out


def latency_series(
    samples: Sequence[Sequence[float | None]],
) -> tuple[list[float | None], list[float | None]]:
    """(median, max) per bucket of the delivered samples' latencies in milliseconds."""
    medians: list[float | None] = []
    maxima: list[float | None] = []
    for bucket in samples:
        known = [s for s in bucket if s is not None]
        medians.append(statistics.median(known) if known else None)
        maxima.append(max(known) if known else None)
    return medians, maxima


def latency_ms(submitted: datetime, delivered: datetime | None) -> float | None:
    if delivered is None:
        return None
    return max(0.0, (delivered - submitted).total_seconds() * 1000)
