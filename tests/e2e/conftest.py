"""The API Gateway emulation on a test port, started once for the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from tests.conftest import harness_server

PORT = 13000


@pytest.fixture(scope="session")
def api(infra: InfraSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API Gateway emulation with 2 Lambda-like workers, on a test port."""
    with harness_server(
        ["api", "--concurrency", "2"], "/health", PORT, tmp_path_factory.mktemp("api")
    ) as url:
        yield url


@pytest.fixture(scope="session")
def api_key(infra: InfraSettings) -> str:
    return merchant_directory(infra).create("E2E Shop").api_key
