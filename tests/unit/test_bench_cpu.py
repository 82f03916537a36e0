"""bench/cpu.py and the pure parts of bench/cpu_per_payment.py: /proc parsing, which process
belongs to which component, CPU over a window, and the per-payment figures. No /proc reads:
the stat lines and command lines are copied from a `python -m harness up` stack."""

from __future__ import annotations

import json

import pytest

from bench.cpu import (
    COMPONENTS,
    NOT_COUNTED,
    ComponentCpu,
    Member,
    Process,
    classify,
    cpu_by_component,
    harness_command,
    lineages,
    members,
    not_counted,
    own_component,
    parse_cmdline,
    parse_stat,
)
from bench.cpu_per_payment import accepted_ids, figures, settled

PY = "/work/main/.venv/bin/python"
JAVA_STAT = (
    "5503 (java) S 1 5503 5503 0 -1 4194304 90826 0 30 0 2131 363 0 0 20 0 109 0 14108 "
    "3913723904 82652 18446744073709551615 94211153022976 94211153023861 140734635278320 0 0 0 "
    "0 2 16800973 0 0 0 17 1 0 0 0 0 0 94211153034560 94211153035288 94211776106496\n"
)
KAFKA = (
    "/usr/bin/java",
    "-Xms256m",
    "-Xmx512m",
    "-cp",
    "/root/.cache/paygate/kafka-a9122db821cc/libs/*",
    "kafka.Kafka",
    "/work/main/.data-bench/kafka/server.properties",
)
REDIS = ("redis-server 127.0.0.1:24379",)
FERRETDB = (
    "/root/.cache/paygate/ferretdb-75644de9f1fd/ferretdb-paygate",
    "-listen",
    "127.0.0.1:24017",
)
API = (PY, "-m", "harness", "api", "--host", "127.0.0.1", "--port", "24000")
SPAWNED = (
    PY,
    "-B",
    "-c",
    "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=8, pipe_handle=12)",
    "--multiprocessing-fork",
)
TRACKER = (PY, "-B", "-c", "from multiprocessing.resource_tracker import main;main(7)")
PROCESS = (PY, "-m", "harness", "consume", "ProcessFunction", "--workers", "2")
NOTIFY = (PY, "-m", "harness", "consume", "NotifyFunction", "--workers", "2")
SCHEDULE = (PY, "-m", "harness", "schedule", "NotifyFunction", "--every", "10.0")
STATUS = (PY, "-m", "harness", "status-page", "--host", "127.0.0.1", "--port", "24090")


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, start: int) -> str:
    """A /proc/<pid>/stat line in the kernel's layout (52 fields)."""
    after = ["S", str(ppid), str(pid), str(pid), "0", "-1", "4194304", "1", "0", "0", "0"]
    after += [str(utime), str(stime), "0", "0", "20", "0", "3", "0", str(start)]
    after += ["0"] * 30
    return f"{pid} ({comm}) " + " ".join(after) + "\n"


def process(
    pid: int, ppid: int, argv: tuple[str, ...], ticks: int = 0, start: int = 100
) -> Process:
    return Process(parse_stat(stat_line(pid, "python", ppid, ticks, 0, start)), argv)


# ---------------------------------------------------------------- /proc parsing


def test_parse_stat_reads_the_kernel_fields() -> None:
    s = parse_stat(JAVA_STAT)
    assert (s.pid, s.comm, s.state, s.ppid, s.pgrp) == (5503, "java", "S", 1, 5503)
    assert s.cpu_ticks == 2131 + 363
    assert s.start_ticks == 14108


@pytest.mark.parametrize("comm", ["tmux: server", "a) b (c", "((", "x) S 1 2 3 (y"])
def test_a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields(
    comm: str,
) -> None:
    s = parse_stat(stat_line(42, comm, 7, utime=11, stime=5, start=999))
    assert (s.pid, s.comm, s.ppid, s.cpu_ticks, s.start_ticks) == (42, comm, 7, 16, 999)


def test_parse_cmdline_splits_on_nul_and_keeps_a_rewritten_title_whole() -> None:
    assert parse_cmdline(b"/usr/bin/python\0-m\0harness\0api\0") == (
        "/usr/bin/python",
        "-m",
        "harness",
        "api",
    )
    assert parse_cmdline(b"redis-server 127.0.0.1:24379\0\0\0\0\0") == REDIS
    assert parse_cmdline(b"") == ()


# ---------------------------------------------------------------- components


def test_harness_command_is_what_follows_dash_m_harness() -> None:
    assert harness_command(PROCESS) == ("consume", "ProcessFunction", "--workers", "2")
    assert harness_command(SPAWNED) == ()
    assert harness_command((PY, "-m", "bench", "--smoke")) == ()


@pytest.mark.parametrize(
    ("argv", "component"),
    [
        (KAFKA, "kafka"),
        (REDIS, "redis"),
        (FERRETDB, "mongo"),
        (API, "apiFront"),
        (PROCESS, "processWorkers"),
        (NOTIFY, "notifyWorkers"),
        (SCHEDULE, "schedule"),
        ((PY, "-m", "harness", "bank", "--port", "24081"), "bank"),
        ((PY, "-m", "harness", "receiver", "--port", "24082"), "receiver"),
        (STATUS, None),
        (SPAWNED, None),
        (("/usr/bin/java", "-jar", "other.jar"), None),
        ((), None),
    ],
)
def test_own_component_by_command_line(argv: tuple[str, ...], component: str | None) -> None:
    assert own_component(argv) == component


def test_a_process_spawned_by_the_api_front_is_an_execution_environment() -> None:
    assert classify((SPAWNED, API)) == "apiEnvironments"


def test_the_api_fronts_resource_tracker_stays_with_the_front() -> None:
    assert classify((TRACKER, API)) == "apiFront"


def test_pollers_belong_to_their_functions_event_source_mapping() -> None:
    assert classify((SPAWNED, PROCESS)) == "processWorkers"
    assert classify((SPAWNED, NOTIFY)) == "notifyWorkers"
    assert classify((TRACKER, NOTIFY)) == "notifyWorkers"


def test_the_status_page_and_unknown_processes_are_not_counted() -> None:
    assert classify((STATUS,)) == NOT_COUNTED
    assert classify((("/bin/sh", "-c", "sleep 1"), ("/bin/sh",))) == NOT_COUNTED
    assert classify(()) == NOT_COUNTED


def test_lineages_cover_only_the_trees_under_the_roots() -> None:
    table = {
        1: process(1, 0, ("/sbin/init",)),
        10: process(10, 1, API),
        11: process(11, 10, SPAWNED),
        12: process(12, 11, ("/bin/true",)),
        20: process(20, 1, API),  # someone else's stack, the same command line
        21: process(21, 20, SPAWNED),
    }
    found = lineages(table, [10, 99])
    assert set(found) == {10, 11, 12}
    assert found[12] == (("/bin/true",), SPAWNED, API)
    assert classify(found[11]) == "apiEnvironments"


# ---------------------------------------------------------------- CPU over a window


def test_cpu_counts_only_processes_alive_over_the_whole_window() -> None:
    before = {
        (10, 100): Member("apiFront", API, 50),
        (11, 100): Member("apiEnvironments", SPAWNED, 100),
        (12, 100): Member("apiEnvironments", SPAWNED, 30),  # exits during the window
    }
    after = {
        (10, 100): Member("apiFront", API, 60),
        (11, 100): Member("apiEnvironments", SPAWNED, 300),
        (12, 500): Member("apiEnvironments", SPAWNED, 80),  # its pid reused by a newcomer
    }
    use = cpu_by_component(before, after, ticks_per_s=100)
    assert use["apiFront"] == ComponentCpu(0.1, 1)
    assert use["apiEnvironments"] == ComponentCpu(2.0, 1)
    assert set(use) == set(COMPONENTS)
    assert use["redis"] == ComponentCpu(0.0, 0)


def test_not_counted_processes_are_reported_beside_the_components() -> None:
    table = {30: process(30, 1, STATUS, ticks=5)}
    before = members(table, [30])
    after = members({30: process(30, 1, STATUS, ticks=25)}, [30])
    assert cpu_by_component(before, after, 100)[NOT_COUNTED] == ComponentCpu(0.2, 1)
    assert not_counted(before, after) == [" ".join(STATUS)]


# ---------------------------------------------------------------- settled payments


def delivery(tx: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "webhook_id": f"evt_{tx}",
        "merchant_id": "m_1",
        "verified": True,
        "reason": None,
        "type": "payment.succeeded",
        "transaction_id": tx,
        "status_answered": 204,
        "received_at": 1.0,
        "attempt": 1,
    }
    return {**row, **changes}


def test_settled_means_a_verified_acknowledged_webhook_of_a_terminal_status() -> None:
    rows = [
        delivery("tx_ok"),
        delivery("tx_declined", type="payment.declined"),
        delivery("tx_unverified", verified=False),
        delivery("tx_refused", status_answered=500),
        delivery("tx_other", type="payment.processing"),
        delivery("tx_not_ours"),
    ]
    accepted = {"tx_ok", "tx_declined", "tx_unverified", "tx_refused", "tx_other"}
    assert settled(rows, accepted) == {"tx_ok", "tx_declined"}


def test_accepted_ids_are_the_202s_of_the_load_generators_records() -> None:
    lines = [
        json.dumps({"submittedAt": 1.0, "latencyMs": 3, "status": 202, "transactionId": "tx_1"}),
        json.dumps({"submittedAt": 1.1, "latencyMs": 3, "status": 503, "transactionId": ""}),
        json.dumps({"submittedAt": 1.2, "latencyMs": 3, "status": 0, "transactionId": ""}),
        "",
    ]
    assert accepted_ids(lines) == {"tx_1"}


def test_figures_per_payment_and_the_ceiling() -> None:
    use = {name: ComponentCpu(0.0, 1) for name in COMPONENTS}
    use["kafka"] = ComponentCpu(3.0, 1)
    use["mongo"] = ComponentCpu(1.0, 1)
    use[NOT_COUNTED] = ComponentCpu(0.5, 1)
    f = figures(use, settled_count=1000, wall_s=20.0, cores=2)
    assert f["components"]["kafka"]["msPerPayment"] == 3.0
    assert f["totalMsPerPayment"] == 4.0  # the status page is not in the total
    assert f["coresBusy"] == 0.2
    assert f["ceilingMsPerS"] == 2000
    assert f["impliedMaxPaymentsPerS"] == 500.0
    assert f["notCountedCpuS"] == 0.5
    assert list(f["components"]) == list(COMPONENTS)


def test_figures_without_a_settled_payment_have_no_per_payment_cost() -> None:
    f = figures({name: ComponentCpu(0.1, 1) for name in COMPONENTS}, 0, 5.0, 2)
    assert f["totalMsPerPayment"] is None and f["impliedMaxPaymentsPerS"] is None
