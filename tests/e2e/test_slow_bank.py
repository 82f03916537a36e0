"""The whole system (`harness up`) with cards the bank answers too late in the mix (issue 14):
5 % late-approval cards at 10/s never open the shared breaker, every card ends as DESIGN.md §5
says, each late approval is reversed, and the bank's money agrees with every outcome."""

from __future__ import annotations

import threading
import uuid

import pybreaker
import redis

from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.adapters.redis_breaker_storage import SharedBreakerStorage
from common.adapters.redis_connection import BANK_BREAKER_NAMESPACE
from harness import stack, traffic
from harness.audit import Sources, settle
from harness.consumer_groups import mappings, unassigned
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from tests.integration.process_support import reset_bank_breaker

CARDS = {c.number: c for c in traffic.TEST_CARDS}
LATE, FLAKY, VISA = "4000000000000259", "4000000000000119", "4242424242424242"


def mix(count: int, webhook_url: str, run_id: str) -> list[traffic.PlannedRequest]:
    """Every 20th payment on the late-approval card, every 20th (offset 10) on the card the
    bank answers 503 twice, the rest on a healthy Visa."""
    return [
        traffic.planned_payment(
            CARDS[LATE if i % 20 == 19 else FLAKY if i % 20 == 9 else VISA], webhook_url, run_id, i
        )
        for i in range(count)
    ]


def test_late_approvals_in_the_mix_never_open_the_breaker_and_take_no_money(
    infra: InfraSettings,
) -> None:
    was_running = stack.components(infra)[0].process.pid() is not None
    # The breaker's window is the last 30 s of bank calls, whoever made them: an earlier
    # test's late cards retrying after its traffic ended (test_demo's) must not be counted.
    reset_bank_breaker()
    stack.up(infra)
    assert unassigned(infra.kafka_bootstrap, mappings()) == []  # up means every poller assigned
    states: set[str] = set()
    watching = threading.Event()
    storage = SharedBreakerStorage(
        pybreaker.STATE_CLOSED, redis.Redis.from_url(infra.redis_url), BANK_BREAKER_NAMESPACE
    )

    def watch() -> None:
        while not watching.wait(0.2):
            states.add(storage.state)

    watcher = threading.Thread(target=watch)
    watcher.start()
    client = mongo_client(infra.mongo_uri)
    try:
        merchant = merchant_directory(infra).create("Slow bank e2e")
        url = f"{infra.receiver_url}/hooks/{merchant.merchant_id}"
        plan = mix(100, url, f"slow-{uuid.uuid4().hex[:6]}")
        submissions = traffic.send(infra.api_url, merchant.api_key, plan, 10.0)
        sources = Sources(
            MongoPaymentReader(client["paygate"]),
            infra.bank_url,
            infra.receiver_url,
            merchant.merchant_id,
        )
        audit = settle(submissions, sources, 120)
    finally:
        watching.set()
        watcher.join()
        client.close()
        if not was_running:
            stack.down(infra)  # leave the infrastructure to the other tests
    assert audit.accepted == 100 and not audit.lost
    assert not audit.wrong_outcomes  # the 0119 card succeeds after its 503s, 0259 fails
    assert audit.outcomes["failed bank_unavailable"] == 5
    assert audit.reversals == 5  # each late approval voided by the gateway's reversal
    assert not audit.charged_not_succeeded and not audit.succeeded_not_charged
    assert not audit.double_charged
    assert pybreaker.STATE_OPEN not in states and states  # watched, and never open
