"""Command line of the local harness.

python -m harness infra up|down|status           Kafka, Redis and the MongoDB-wire server
python -m harness demo [--rate R] [--seconds S]  everything up, a payment mix, a summary
python -m harness up|down|status                 everything the project runs locally
python -m harness status-page [--port 8090]      the dashboard and status.json (foreground)
python -m harness keys create --merchant NAME [--json] | list [--json] | revoke ID
python -m harness dlq list [--json] | show POSITION | redrive --pending | redrive POSITION...
python -m harness api [--port 3000] [--concurrency N] [--direct]      (foreground)
python -m harness invoke FUNCTION --event FILE [--header k=v]  (like sam local invoke)
python -m harness consume FUNCTION [--workers N]   Kafka event source mapping
python -m harness schedule FUNCTION [--every S]    a Schedule event at its rate
python -m harness bank [--port 8081]               bank simulator
python -m harness receiver [--port 8082]           demo webhook receiver
python -m harness listen --merchant ID --forward-to URL [--port 8083]
                                                   verify a merchant's webhooks, forward them
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from common.domain.errors import TransientError
from harness import (
    apigw,
    bank,
    demo,
    dlq,
    event_source,
    keys,
    listen,
    pipeline,
    receiver,
    scheduler,
    stack,
    status_page,
)
from harness.infra import manager
from harness.infra.settings import InfraSettings
from harness.lambda_runtime import LambdaContext, function_spec, load_handler
from harness.local_env import function_env
from harness.template import TemplateError, project_template

API_ENVIRONMENTS = 4
"""Execution environments of the API Gateway emulation by default. Each serves one invocation
at a time and waits on Redis and Kafka for most of it (about 1.2 ms of CPU in 2.5 ms), so four
keep 2 cores busy at saturation; at low rates the one used last serves nearly everything."""


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
    _infra_up(s)
    _out("harness:")
    for component, state in stack.up(s):
        _print_component(component, state)
    _out()
    _out(f"API: {s.api_url}   dashboard: http://{s.host}:{s.status_port}/")
    _out(f"logs: {s.run_dir}")
    merchant = keys.merchant_directory(s).create("Local Shop (make up)")
    hook = f"{s.receiver_url}/hooks/{merchant.merchant_id}"
    _out(
        f"\nA merchant to try it with: {merchant.merchant_id}, API key {merchant.api_key}"
        "\n(shown once; `harness keys create --merchant NAME` makes more). Paste:\n"
    )
    _out(
        f"curl -si {s.api_url}/api/payments -H 'X-API-Key: {merchant.api_key}' "
        "-H 'Content-Type: application/json' -H 'Idempotency-Key: order-1' -d "
        """'{"amount":"49.99","currency":"EUR","reference":"order-1","webhookUrl":"""
        f'"{hook}",'
        """"card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}}'"""
    )
    _out(f"curl -s {s.api_url}/api/payments/<transactionId> -H 'X-API-Key: {merchant.api_key}'")
    _out(f"curl -s '{s.receiver_url}/received?merchantId={merchant.merchant_id}'   # webhooks")
    _out("make down   # stops everything")
    return 0


def _down(s: InfraSettings) -> int:
    stopped = stack.down(s)
    if stopped:
        _out("stopped: " + ", ".join(stopped))
    return _infra_down(s)


def _status(s: InfraSettings) -> int:
    code = _infra_status(s)
    _out("harness:")
    states = stack.status(s)
    for component, state in states:
        _print_component(component, state)
    for line in pipeline.render_text(pipeline.collect(s)):
        _out(line)
    _out(f"dashboard: http://{s.host}:{s.status_port}/")
    return code if all(state == "running" for _, state in states) else 1


def _print_component(component: stack.Component, state: str) -> None:
    pid = component.process.pid()
    _out(
        f"  {component.process.name:<10} {component.url or '':<40} {state:<9} "
        f"{'pid ' + str(pid) if pid else ''}  {component.description}"
    )


def _invoke(function: str, event_path: str, headers: list[str], s: InfraSettings) -> int:
    try:
        spec = function_spec(function)
    except (KeyError, TemplateError):
        names = ", ".join(sorted(project_template().functions()))
        sys.stderr.write(f"error: no function {function!r} in template.yaml ({names})\n")
        return 2
    try:
        event = json.loads(Path(event_path).read_text())
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: cannot read event {event_path}: {exc}\n")
        return 2
    for header in headers:
        name, sep, value = header.partition("=")
        if not sep or not isinstance(event.get("headers"), dict):
            sys.stderr.write(f"error: --header {header!r} needs NAME=VALUE and an HTTP event\n")
            return 2
        event["headers"][name.lower()] = value
    os.environ.update(function_env(function, s))
    result = load_handler(spec.handler)(
        event, LambdaContext(spec, time.monotonic() + spec.timeout_s)
    )
    _out(json.dumps(result, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    infra = sub.add_parser("infra", help="local Kafka, Redis and MongoDB-wire server")
    infra.add_argument("action", choices=sorted(_INFRA))
    demo_parser = sub.add_parser("demo", help="run the gateway and a payment mix; a summary")
    demo_parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    demo_parser.add_argument("--seconds", type=float, default=20.0, help="how long to send")
    demo_parser.add_argument(
        "--settle-timeout", type=float, default=180.0, help="how long to wait for outcomes"
    )
    sub.add_parser("up", help="start everything in the background")
    sub.add_parser("down", help="stop everything we started")
    sub.add_parser("status", help="what is running where, and what is in the pipeline")
    page = sub.add_parser("status-page", help="serve the dashboard in the foreground")
    page.add_argument("--host", default="127.0.0.1")
    page.add_argument("--port", type=int, default=None, help="default: PAYGATE_STATUS_PORT")
    keys_parser = sub.add_parser("keys", help="merchants and their API keys")
    keys_sub = keys_parser.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a merchant with an API key")
    create.add_argument("--merchant", required=True, help="the merchant's display name")
    create.add_argument("--json", action="store_true")
    listing = keys_sub.add_parser("list", help="list merchants (never their keys)")
    listing.add_argument("--json", action="store_true")
    revoke = keys_sub.add_parser("revoke", help="revoke every API key of a merchant")
    revoke.add_argument("merchant_id")
    api = sub.add_parser("api", help="serve the HTTP API in the foreground")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=3000)
    api.add_argument(
        "--concurrency",
        type=int,
        default=API_ENVIRONMENTS,
        help=f"Lambda execution environments (processes; default {API_ENVIRONMENTS})",
    )
    api.add_argument(
        "--direct",
        action="store_true",
        help="serve the FastAPI app under uvicorn, without the Lambda hand-off",
    )
    _add_dlq_parser(sub)
    consume = sub.add_parser("consume", help="run a function's Kafka event source mapping")
    consume.add_argument("function")
    consume.add_argument("--workers", type=int, default=2, help="poller processes")
    bank_parser = sub.add_parser("bank", help="run the bank simulator in the foreground")
    bank_parser.add_argument("--host", default="127.0.0.1")
    bank_parser.add_argument("--port", type=int, default=8081)
    schedule = sub.add_parser("schedule", help="fire a function's Schedule event at its rate")
    schedule.add_argument("function")
    schedule.add_argument("--every", type=float, default=None, help="seconds (default: the rate)")
    _add_webhook_endpoint_parsers(sub)
    invoke = sub.add_parser("invoke", help="run one function once on an event file")
    invoke.add_argument("function")
    invoke.add_argument("--event", required=True)
    invoke.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a header of an HTTP event, e.g. --header x-api-key=pgk_...",
    )
    args = parser.parse_args(argv)

    settings = InfraSettings()
    try:
        return _COMMANDS[args.command](args, settings)
    except (manager.InfraError, TransientError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1


def _consume(function: str, workers: int, s: InfraSettings) -> int:
    if workers < 1:
        sys.stderr.write("error: --workers must be at least 1\n")
        return 2
    try:
        event_source.run_workers(function, workers, s)
    except TemplateError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


def _bank(host: str, port: int) -> int:
    bank.serve(host, port)
    return 0


def _schedule(function: str, every: float | None, s: InfraSettings) -> int:
    try:
        scheduler.run_schedule(function, every, s)
    except TemplateError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


def _status_page(host: str, port: int, s: InfraSettings) -> int:
    status_page.serve(s, host, port)
    return 0


def _receiver(host: str, port: int) -> int:
    receiver.serve(host, port)
    return 0


def _api(args: argparse.Namespace, s: InfraSettings) -> int:
    run = apigw.serve_direct if args.direct else apigw.serve
    run(args.host, args.port, args.concurrency, s)
    return 0


def _add_dlq_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq_parser = sub.add_parser("dlq", help="dead letters: list, show, redrive")
    dlq_sub = dlq_parser.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", help="every dead letter with its state and reason")
    dlq_list.add_argument("--json", action="store_true")
    dlq_show = dlq_sub.add_parser("show", help="one dead letter: headers and value")
    dlq_show.add_argument("position", help="topic/partition/offset, as `dlq list` prints it")
    dlq_redrive = dlq_sub.add_parser("redrive", help="send dead letters back to their source")
    dlq_redrive.add_argument("positions", nargs="*", help="topic/partition/offset ...")
    dlq_redrive.add_argument(
        "--pending", action="store_true", help="one run of the redrive function now"
    )


def _add_webhook_endpoint_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    receiver_parser = sub.add_parser("receiver", help="run the demo webhook receiver")
    receiver_parser.add_argument("--host", default="127.0.0.1")
    receiver_parser.add_argument("--port", type=int, default=8082)
    listen_parser = sub.add_parser(
        "listen", help="verify a merchant's webhooks and forward them (like stripe listen)"
    )
    listen_parser.add_argument("--merchant", required=True, help="the merchant id (mer_...)")
    listen_parser.add_argument("--forward-to", required=True, help="where to POST each event")
    listen_parser.add_argument("--port", type=int, default=8083, help="on 127.0.0.1")


def _dlq(args: argparse.Namespace, s: InfraSettings) -> int:
    if args.dlq_command == "list":
        return dlq.list_letters(s, args.json)
    if args.dlq_command == "show":
        return dlq.show(s, args.position)
    if bool(args.pending) == bool(args.positions):
        sys.stderr.write("error: give either --pending or the positions to redrive\n")
        return 2
    return dlq.redrive(s, args.positions, args.pending)


_COMMANDS: dict[str, Callable[[argparse.Namespace, InfraSettings], int]] = {
    "infra": lambda a, s: _INFRA[a.action](s),
    "demo": lambda a, s: demo.run(s, demo.DemoOptions(a.rate, a.seconds, a.settle_timeout)),
    "up": lambda _a, s: _up(s),
    "down": lambda _a, s: _down(s),
    "status": lambda _a, s: _status(s),
    "status-page": lambda a, s: _status_page(a.host, a.port or s.status_port, s),
    "keys": lambda a, _s: _keys(a),
    "dlq": _dlq,
    "api": _api,
    "invoke": lambda a, s: _invoke(a.function, a.event, a.header, s),
    "consume": lambda a, s: _consume(a.function, a.workers, s),
    "bank": lambda a, _s: _bank(a.host, a.port),
    "receiver": lambda a, _s: _receiver(a.host, a.port),
    "listen": lambda a, _s: listen.listen(a.merchant, a.forward_to, "127.0.0.1", a.port),
    "schedule": lambda a, s: _schedule(a.function, a.every, s),
}


def _keys(args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        return keys.create(args.merchant, args.json)
    if args.keys_command == "list":
        return keys.list_merchants(args.json)
    return keys.revoke(args.merchant_id)
