"""The overview's charts: buckets, rates and latency from offsets (throughput.py), drawn as
inline SVG (svg_charts.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from harness.dashboard import throughput
from harness.dashboard.svg_charts import Line, line_chart, nice_ceiling


def test_buckets_are_aligned_on_the_clock_and_end_before_now() -> None:
    now = datetime(2026, 1, 1, 12, 0, 7, 500_000, tzinfo=UTC)
    edges = throughput.bucket_edges(now)
    assert len(edges) == throughput.BUCKETS + 1
    assert edges[-1] == datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert edges[0] == edges[-1] - timedelta(seconds=throughput.WINDOW_S)
    assert throughput.bucket_edges(now + timedelta(seconds=2)) == edges  # same edges: cached


def test_rates_are_offset_differences_per_second() -> None:
    at_edges = [{0: 10, 1: 0}, {0: 30, 1: 5}, {0: 30, 1: 5}, {0: 31, 1: 25}]
    assert throughput.per_second(at_edges) == [2.5, 0.0, 2.1]


def test_latency_samples_the_first_settled_record_of_a_few_partitions() -> None:
    at_edges = [{0: 0, 1: 4, 2: 7, 3: 1}, {0: 2, 1: 4, 2: 9, 3: 2}, {0: 2, 1: 4, 2: 9, 3: 2}]
    assert throughput.sample_positions(at_edges) == [[(0, 0), (2, 7), (3, 1)], []]
    medians, maxima = throughput.latency_series([[100.0, None, 300.0, 200.0], [None], []])
    assert medians == [200.0, None, None] and maxima == [300.0, None, None]
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert throughput.latency_ms(t, t + timedelta(milliseconds=250)) == 250.0
    assert throughput.latency_ms(t, None) is None


def test_the_axis_ends_on_a_round_number() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 7, 12, 480, 2001)] == [
        1,
        0.5,
        1,
        10,
        20,
        500,
        5000,
    ]


def test_a_chart_is_svg_with_a_polyline_per_unbroken_stretch_and_escaped_labels() -> None:
    svg = line_chart(
        "<b>rates</b>",
        "per <s>",
        [Line("a<b", [1.0, 2.0, None, 4.0], "accepted"), Line("x", [None] * 4, "max")],
        ["<-10 min>", "now"],
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<b>" not in svg and "&lt;b&gt;rates&lt;/b&gt;" in svg and "&lt;-10 min&gt;" in svg
    runs = re.findall(r'<polyline class="accepted" points="([^"]+)"', svg)
    assert len(runs) == 2 and len(runs[0].split()) == 2
    assert 'class="max"' not in svg  # no values, no line
