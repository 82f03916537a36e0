"""`python -m harness.container`: the harness in the foreground, as a container's main process.

`python -m harness up` starts its components in the background and returns; a container needs
one process that lives exactly as long as they do. This one brings up the infrastructure the
way `infra up` does (in the `app` container PAYGATE_MODE=external: wait for compose's Kafka,
Redis and MongoDB, then create the topics), starts the components of harness/stack.py with
their output on its own, and stays until one of them exits (then stops the others and exits
non-zero) or it receives SIGTERM/SIGINT (then stops them and exits 0).

`python -m harness.container --check` is the container's health check: 0 when the API's
/health answers 200 and the bank simulator, webhook receiver and status page answer at all.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from types import FrameType

from harness import stack
from harness.infra import manager
from harness.infra.settings import InfraSettings

STOP_TIMEOUT_S = 20.0
"""SIGTERM to SIGKILL for the components; within docker-compose.yml's stop_grace_period (30 s),
after which Docker kills the container. On a 2-core machine at load 10-23 they took 3.5 s,
9.5 s, and once over 15 s."""


def _say(line: str) -> None:
    sys.stdout.write(f"paygate: {line}\n")
    sys.stdout.flush()


def commands(s: InfraSettings) -> dict[str, list[str]]:
    """The argv of each component of harness/stack.py, its HTTP services on `listen_host`."""
    return {c.process.name: list(c.process.argv) for c in stack.components(s)}


def health_urls(s: InfraSettings) -> dict[str, str]:
    """The URL harness/stack.py waits on for each HTTP component, on loopback."""
    return {c.process.name: c.url for c in stack.components(s) if c.url is not None}


def check(s: InfraSettings) -> int:
    """0 when the API is healthy (200) and the other HTTP components answer; 1 otherwise."""
    for name, url in health_urls(s).items():
        try:
            with urllib.request.urlopen(url, timeout=3):  # noqa: S310 - our own loopback URL
                pass
        except urllib.error.HTTPError as exc:
            if name == "api":
                _say(f"{name}: {url} answered {exc.code}")
                return 1
        except OSError as exc:
            _say(f"{name}: {url} does not answer: {exc}")
            return 1
    return 0


def run(s: InfraSettings) -> int:
    report = manager.up(s)
    for st in report.services:
        _say(f"{st.name} at {st.address}: {st.state}")
    for line in report.topics:
        _say(f"topic: {line}")
    _say(f"API on {s.listen_host}:{s.api_port}")
    return supervise(commands(s))


def supervise(argvs: Mapping[str, Sequence[str]]) -> int:
    """Run every command until one exits (its code, or 1 for 0 or a signal) or SIGTERM/SIGINT
    arrives (0); then stop the rest, each with the workers it forked."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in argvs.items():
            # Its own process group, so stopping it also stops the workers it forked.
            children[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, process_group=0)
            _say(f"started {name} (pid {children[name].pid}): {' '.join(argv)}")
        while not stopping:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    _say(f"{name} exited with {code}; stopping the others")
                    return code if code > 0 else 1
            time.sleep(0.2)
        _say(f"signal {stopping[0]}: stopping")
        return 0
    finally:
        _stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(max(0.0, deadline - time.monotonic()))
        _signal_group(child, signal.SIGKILL)  # the group's workers, if they outlived it
        child.wait()


def _signal_group(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.container", description=__doc__)
    parser.add_argument("--check", action="store_true", help="health check, then exit")
    args = parser.parse_args(argv)
    s = InfraSettings()
    if args.check:
        return check(s)
    try:
        return run(s)
    except manager.InfraError as exc:
        _say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
