"""Local twin of an EventBridge schedule (`Type: Schedule` events in template.yaml): invokes
the function with a "Scheduled Event" at the schedule's rate, one invocation at a time."""

from __future__ import annotations

import logging
import os
import re
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from common.structured_logging import configure_logging
from harness.infra.settings import InfraSettings
from harness.lambda_runtime import LambdaContext, function_spec, load_handler
from harness.local_env import function_env
from harness.template import TemplateError, project_template

log = logging.getLogger("paygate.scheduler")
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def schedule_rate_s(function: str) -> tuple[str, float]:
    """(event name, seconds) of the function's Schedule event; only rate(...) expressions."""
    props = project_template().functions().get(function)
    if props is None:
        raise TemplateError(f"no function {function!r} in template.yaml")
    for name, event in (props.get("Events") or {}).items():
        if event.get("Type") == "Schedule":
            expr = str((event.get("Properties") or {}).get("Schedule", ""))
            m = re.fullmatch(r"rate\((\d+) (minutes?|hours?|days?)\)", expr)
            if not m:
                raise TemplateError(f"{function}.{name}: only rate(...) schedules run locally")
            return name, int(m.group(1)) * _UNITS[m.group(2)]
    raise TemplateError(f"{function} has no Schedule event")


def scheduled_event(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "local",
        "resources": [f"arn:aws:events:local:000000000000:rule/{rule}"],
        "detail": {},
    }


def run_schedule(function: str, every_s: float | None, infra: InfraSettings) -> None:
    rule, rate = schedule_rate_s(function)
    interval = every_s or rate
    os.environ.update(function_env(function, infra))
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    spec = function_spec(function)
    handler = load_handler(spec.handler)
    stopping = False

    def stop(_sig: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "schedule started", extra={"function": function, "rule": rule, "everySeconds": interval}
    )
    while not stopping:
        started = time.monotonic()
        try:
            result = handler(scheduled_event(rule), LambdaContext(spec, started + spec.timeout_s))
            log.info("scheduled invocation", extra={"function": function, "result": str(result)})
        except Exception:
            log.exception("scheduled invocation failed", extra={"function": function})
        while not stopping and time.monotonic() - started < interval:
            time.sleep(0.2)
