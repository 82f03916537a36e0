"""Lambda entry of the intake function: API Gateway (HTTP API v2.0 or REST v1) → FastAPI.

Importing this opens no connection and reads no settings; the first request builds the
clients (functions/intake/deps.py) and a warm execution environment reuses them. Mangum runs
with lifespan="off": by default it would run startup and shutdown on every invocation.
"""

from __future__ import annotations

from mangum import Mangum

from functions.intake.app import create_app
from functions.intake.deps import LazyIntakeDeps

app = create_app(LazyIntakeDeps())
lambda_handler = Mangum(
    app,
    lifespan="off",
    # answer problem+json as text, not base64 (Mangum treats unknown types as binary)
    text_mime_types=["application/json", "application/problem+json", "text/"],
)
