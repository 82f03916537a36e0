"""Command line of the local harness.

python -m harness infra up|down|status   Kafka, Redis and the MongoDB-wire server
python -m harness up|down|status         everything the project runs locally
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from common.domain.errors import TransientError
from harness import keys
from harness.infra import manager
from harness.infra.settings import InfraSettings


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _print_states(states: Sequence[manager.ServiceState]) -> None:
    for st in states:
        pid = f"pid {st.pid}" if st.pid else ""
        _out(f"  {st.name:<10} {st.address:<22} {st.state:<9} {pid}")


def _infra_up(s: InfraSettings) -> int:
    report = manager.up(s)
    _out(f"infrastructure ({report.mode}), data in {s.data_dir}, up in {report.seconds:.1f}s:")
    _print_states(report.services)
    for line in report.topics:
        _out(f"  topic: {line}")
    if all(st.state in ("running", "external", "docker") for st in report.services):
        _out("  everything was already up")
    return 0


def _infra_down(s: InfraSettings) -> int:
    stopped = manager.down(s)
    _out("stopped: " + (", ".join(stopped) if stopped else "nothing of ours was running"))
    return 0


def _infra_status(s: InfraSettings) -> int:
    states = manager.status(s)
    _out(f"infrastructure, data in {s.data_dir}:")
    _print_states(states)
    return 0 if all(st.state in ("running", "external") for st in states) else 1


_INFRA = {"up": _infra_up, "down": _infra_down, "status": _infra_status}


def _up(s: InfraSettings) -> int:
    code = _infra_up(s)
    _out()
    _out("Kafka     127.0.0.1:9092   Redis 127.0.0.1:6379   MongoDB wire 127.0.0.1:27017")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    infra = sub.add_parser("infra", help="local Kafka, Redis and MongoDB-wire server")
    infra.add_argument("action", choices=sorted(_INFRA))
    sub.add_parser("up", help="start everything in the background")
    sub.add_parser("down", help="stop everything we started")
    sub.add_parser("status", help="what is running where")
    keys_parser = sub.add_parser("keys", help="merchants and their API keys")
    keys_sub = keys_parser.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a merchant with an API key")
    create.add_argument("--merchant", required=True, help="the merchant's display name")
    create.add_argument("--json", action="store_true")
    listing = keys_sub.add_parser("list", help="list merchants (never their keys)")
    listing.add_argument("--json", action="store_true")
    revoke = keys_sub.add_parser("revoke", help="revoke every API key of a merchant")
    revoke.add_argument("merchant_id")
    args = parser.parse_args(argv)

    settings = InfraSettings()
    try:
        if args.command == "keys":
            return _keys(args)
        if args.command == "infra":
            return _INFRA[args.action](settings)
        if args.command == "up":
            return _up(settings)
        if args.command == "down":
            return _infra_down(settings)
        return _infra_status(settings)
    except (manager.InfraError, TransientError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1


def _keys(args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        return keys.create(args.merchant, args.json)
    if args.keys_command == "list":
        return keys.list_merchants(args.json)
    return keys.revoke(args.merchant_id)
