"""Lambda entry of the redrive function: an EventBridge schedule sends the dead letters whose
retries ran out back to their source topics once the dependencies answer (service.py).
Importing this opens no connection and reads no settings."""

from __future__ import annotations

from typing import Any

from functions.redrive.deps import redrive_runtime


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    runtime = redrive_runtime()
    return runtime.service.run(runtime.settings.redrive_max_per_run).summary()
