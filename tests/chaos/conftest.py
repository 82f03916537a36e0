"""The chaos stack for the scenarios (its own ports and `.data-chaos`), started from scratch
and stopped once they are done; the table of every scenario's row at the end of the run.

`make chaos` runs every scenario (CHAOS_FULL=1); `make test` runs the `smoke` ones in their
short form.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chaos.context import Chaos
from chaos.report import Row, table
from chaos.stack import ChaosStack

ROWS: list[Row] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos/" in str(item.path):
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="module")
def chaos() -> Iterator[Chaos]:
    stack = ChaosStack()
    stack.up(clean=True)
    context = Chaos(stack, quick=os.environ.get("CHAOS_FULL") != "1")
    context.proxy.start()
    try:
        yield context
    finally:
        context.proxy.stop()
        stack.down()


@pytest.fixture
def record(chaos: Chaos) -> Iterator[list[Row]]:
    """A test appends its row here; it is printed at the end whether it passed or not, and
    the table so far is kept in `.data-chaos/chaos-report.md` as the run goes."""
    rows: list[Row] = []
    yield rows
    ROWS.extend(rows)
    (chaos.stack.data_dir / "chaos-report.md").write_text(table(ROWS) + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.section("chaos scenarios")
        terminalreporter.write_line(table(ROWS))
