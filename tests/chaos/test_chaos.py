"""Issue 8's fault-injection scenarios, each under a steady payment load (where it has one),
each ending with the full audit (chaos/judge.py). `smoke`: the short pass inside `make test`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chaos import hostile, outages, scenarios
from chaos.context import Chaos
from chaos.report import Row, table

Scenario = Callable[[Chaos], Row]
pytestmark = pytest.mark.timeout(900)  # the first one also starts the stack


def run(scenario: Scenario, chaos: Chaos, record: list[Row]) -> None:
    row = scenario(chaos)
    record.append(row)
    assert row.ok, table([row])


@pytest.mark.smoke
def test_01_kill_process_workers(chaos: Chaos, record: list[Row]) -> None:
    run(scenarios.kill_process_workers, chaos, record)


@pytest.mark.full
def test_02_kill_notify_workers(chaos: Chaos, record: list[Row]) -> None:
    run(scenarios.kill_notify_workers, chaos, record)


@pytest.mark.full
def test_03_kafka_down(chaos: Chaos, record: list[Row]) -> None:
    run(scenarios.kafka_down, chaos, record)


@pytest.mark.full
def test_04_redis_down(chaos: Chaos, record: list[Row]) -> None:
    run(scenarios.redis_down, chaos, record)


@pytest.mark.full
def test_05_mongo_down(chaos: Chaos, record: list[Row]) -> None:
    run(scenarios.mongo_down, chaos, record)


@pytest.mark.full
def test_06_bank_outage_then_slow(chaos: Chaos, record: list[Row]) -> None:
    run(scenarios.bank_outage, chaos, record)


@pytest.mark.full
def test_07_merchant_down(chaos: Chaos, record: list[Row]) -> None:
    run(scenarios.merchant_down, chaos, record)


@pytest.mark.full
def test_08_slow_merchant(chaos: Chaos, record: list[Row]) -> None:
    run(scenarios.slow_merchant, chaos, record)


@pytest.mark.smoke
def test_09_poison_records(chaos: Chaos, record: list[Row]) -> None:
    run(hostile.poison_records, chaos, record)


@pytest.mark.smoke
def test_10_hostile_input(chaos: Chaos, record: list[Row]) -> None:
    run(hostile.hostile_input, chaos, record)


@pytest.mark.smoke
def test_11_replay_storm(chaos: Chaos, record: list[Row]) -> None:
    run(hostile.replay_storm, chaos, record)


@pytest.mark.full
@pytest.mark.timeout(1800)  # 5 minutes down, 10 retries to run out, the backlog to drain
def test_12_mongo_down_five_minutes(chaos: Chaos, record: list[Row]) -> None:
    run(outages.mongo_down_long, chaos, record)


@pytest.mark.full
def test_13_redis_loses_everything(chaos: Chaos, record: list[Row]) -> None:
    run(outages.redis_loses_everything, chaos, record)


@pytest.mark.full
def test_14_redis_down_at_cold_start(chaos: Chaos, record: list[Row]) -> None:
    run(outages.redis_down_cold_starts, chaos, record)


@pytest.mark.full
def test_15_broker_ack_lost(chaos: Chaos, record: list[Row]) -> None:
    run(outages.kafka_ack_lost, chaos, record)


@pytest.mark.smoke
def test_16_dns_rebinding(chaos: Chaos, record: list[Row]) -> None:
    run(outages.dns_rebinding, chaos, record)


@pytest.mark.full
def test_17_two_schedule_runs(chaos: Chaos, record: list[Row]) -> None:
    run(outages.two_schedules, chaos, record)


@pytest.mark.full
def test_18_trickling_merchant(chaos: Chaos, record: list[Row]) -> None:
    run(outages.trickling_merchant, chaos, record)
