"""The status port (`harness up` serves it on 127.0.0.1:8090): the dashboard
(harness/dashboard/: overview, payments, dead letters), `/status.json` for scripts and
`/health` for readiness.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from harness.dashboard.app import create_dashboard_app
from harness.dashboard.views import REFRESH_S
from harness.infra.settings import InfraSettings


def create_status_app(s: InfraSettings, max_age_s: float = REFRESH_S) -> FastAPI:
    return create_dashboard_app(s, max_age_s)


def serve(s: InfraSettings, host: str, port: int) -> None:
    uvicorn.run(create_status_app(s), host=host, port=port, log_level="warning", access_log=False)
