"""Handlers for tests/integration/test_lambda_pool.py, imported by their execution
environments the way template.yaml's handlers are."""

from __future__ import annotations

import os
import time
from typing import Any


def echo(event: Any, _context: Any) -> Any:
    return {"event": event, "pid": os.getpid()}


def slow(event: Any, _context: Any) -> Any:
    time.sleep(float(event["seconds"]))
    return {"pid": os.getpid()}


def broken(_event: Any, _context: Any) -> Any:
    raise ValueError("the handler failed")


def crash(_event: Any, _context: Any) -> Any:
    os._exit(3)
