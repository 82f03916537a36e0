"""`python -m harness up|down|status`: the infrastructure plus the harness's own services,
each a background process tracked by pid (harness/processes.py)."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from harness import consumer_groups
from harness.infra import manager
from harness.infra.settings import InfraSettings
from harness.processes import ManagedProcess

SCHEDULE_EVERY_S = 2.0
"""Locally the retry schedule fires every 2 s instead of template.yaml's rate(1 minute), so
the first retry (5 s after the first attempt) is not held up for a minute. Its query reads
only the due-index (webhook_due: deliveries waiting for a retry), so a run costs the same at
1,000 and 20,000 payments (docs/benchmarks/, "Reads do not grow with the store")."""
REVERSALS_EVERY_S = 5.0
"""template.yaml's rate(1 minute), sooner locally: a reversal the bank could not take is sent
again within seconds of the bank answering again (tests wait for it)."""
REDRIVE_EVERY_S = 10.0
"""template.yaml's rate(1 minute), sooner locally: a payment stranded by an outage moves on
within seconds of MongoDB and Redis answering again."""
WORKERS = 2
PROCESS_WORKERS = 6
"""One poller per partition of payments.requested (template.yaml's MaximumPollers): Lambda
runs one batch per partition at a time but the partitions' batches concurrently, so a payment
the bank is slow on holds up its own partition for one attempt, not a third of them. The retry
mapping runs min(this, its MaximumPollers) = 2."""


@dataclass(frozen=True)
class Component:
    process: ManagedProcess
    url: str | None
    """Answers (any HTTP status) once the component is ready; None: ready once running."""
    description: str


def components(s: InfraSettings) -> list[Component]:
    py = sys.executable
    return [
        Component(
            ManagedProcess(
                "api",
                [py, "-m", "harness", "api", "--host", s.listen_host, "--port", str(s.api_port)],
                s.run_dir,
            ),
            f"{s.api_url}/health",
            "API Gateway emulation → IntakeFunction",
        ),
        Component(
            ManagedProcess(
                "bank",
                [py, "-m", "harness", "bank", "--host", s.listen_host, "--port", str(s.bank_port)],
                s.run_dir,
            ),
            f"{s.bank_url}/control",
            "bank simulator",
        ),
        Component(
            ManagedProcess(
                "receiver",
                [
                    py,
                    "-m",
                    "harness",
                    "receiver",
                    "--host",
                    s.listen_host,
                    "--port",
                    str(s.receiver_port),
                ],
                s.run_dir,
            ),
            f"{s.receiver_url}/received",
            "demo webhook receiver (verifies signatures)",
        ),
        Component(
            ManagedProcess(
                "process",
                [
                    py,
                    "-m",
                    "harness",
                    "consume",
                    "ProcessFunction",
                    "--workers",
                    str(PROCESS_WORKERS),
                ],
                s.run_dir,
            ),
            None,
            f"Kafka event source → ProcessFunction ({PROCESS_WORKERS} pollers + 2 on retries)",
        ),
        Component(
            ManagedProcess(
                "notify",
                [py, "-m", "harness", "consume", "NotifyFunction", "--workers", str(WORKERS)],
                s.run_dir,
            ),
            None,
            f"Kafka event source → NotifyFunction ({WORKERS} pollers)",
        ),
        _schedule(s, "schedule", "NotifyFunction", SCHEDULE_EVERY_S, "due webhook retries"),
        _schedule(s, "reversals", "ProcessFunction", REVERSALS_EVERY_S, "unacknowledged reversals"),
        _schedule(
            s, "redrive", "RedriveFunction", REDRIVE_EVERY_S, "dead letters back once deps answer"
        ),
        Component(
            ManagedProcess(
                "status",
                [
                    py,
                    "-m",
                    "harness",
                    "status-page",
                    "--host",
                    s.listen_host,
                    "--port",
                    str(s.status_port),
                ],
                s.run_dir,
            ),
            f"http://{s.host}:{s.status_port}/health",
            "dashboard: overview, payments, dead letters (status.json for scripts)",
        ),
    ]


def _schedule(s: InfraSettings, name: str, function: str, every_s: float, what: str) -> Component:
    argv = [sys.executable, "-m", "harness", "schedule", function, "--every", str(every_s)]
    return Component(
        ManagedProcess(name, argv, s.run_dir),
        None,
        f"Schedule → {function} every {every_s:g} s ({what})",
    )


def _answers(url: str | None) -> bool:
    if url is None:
        return True
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
            return True
    except urllib.error.HTTPError:
        return True  # it answered, with an error status (e.g. 503 while a dependency is down)
    except OSError:
        return False


def up(s: InfraSettings, timeout_s: float = 60.0) -> list[tuple[Component, str]]:
    out = []
    for c in components(s):
        if c.process.pid() is not None and _answers(c.url):
            out.append((c, "running"))
            continue
        c.process.start()
        deadline = time.monotonic() + timeout_s
        while not _answers(c.url):
            if c.process.pid() is None:
                raise manager.InfraError(
                    f"{c.process.name} exited during start; last lines of "
                    f"{c.process.log_file}:\n{c.process.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise manager.InfraError(
                    f"{c.process.name} did not answer {c.url} within {timeout_s:.0f}s:\n"
                    f"{c.process.log_tail()}"
                )
            time.sleep(0.2)
        out.append((c, "started"))
    missing = consumer_groups.wait_assigned(s.kafka_bootstrap, timeout_s)
    if missing:
        raise manager.InfraError("pollers did not get their partitions: " + "; ".join(missing))
    return out


def down(s: InfraSettings) -> list[str]:
    return [c.process.name for c in components(s) if c.process.stop()]


def status(s: InfraSettings) -> list[tuple[Component, str]]:
    out = []
    for c in components(s):
        pid = c.process.pid()
        answers = _answers(c.url)
        state = (
            "running"
            if pid and answers
            else "down"
            if pid
            else "external"
            if answers
            else "stopped"
        )
        out.append((c, state))
    return out
