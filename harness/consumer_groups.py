"""Ready means assigned: wait until every event source mapping's consumer group is stable with
all its topic's partitions assigned to pollers.

A poller process that runs has not joined its group yet; ten pollers joining one after the
other rebalance (cooperative-sticky) for several seconds, and a payment sent meanwhile waits
for its partition's owner (measured: the first ~3 s of a run took up to 3.5 s to settle, the
rest 0.4 s). `harness up` and the demo wait for this before they report the system ready.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from harness.event_source import mapping_specs
from harness.template import project_template


def mappings() -> list[tuple[str, str]]:
    """(consumer group, topic) of every Kafka event in template.yaml."""
    t = project_template()
    out = []
    for function, props in t.functions().items():
        events = (props.get("Events") or {}).values()
        if any(e.get("Type") in ("SelfManagedKafka", "MSK") for e in events):
            out += [(m.group, m.topic) for m in mapping_specs(function)]
    return out


def unassigned(bootstrap: str, groups: Iterable[tuple[str, str]]) -> list[str]:
    """The groups not yet stable with every partition of their topic assigned (with why)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})  # no info chatter
    wanted = dict(groups)
    partitions = {
        topic: len(meta.partitions)
        for topic, meta in admin.list_topics(timeout=5).topics.items()
        if topic in wanted.values()
    }
    out = []
    for group, future in admin.describe_consumer_groups(list(wanted), request_timeout=5).items():
        try:
            d = future.result()
        except KafkaException as exc:
            out.append(f"{group}: {exc}")
            continue
        assigned = {
            tp.partition
            for m in d.members
            for tp in m.assignment.topic_partitions
            if tp.topic == wanted[group]
        }
        need = partitions.get(wanted[group], 0)
        if d.state != ConsumerGroupState.STABLE or len(assigned) < need:
            out.append(f"{group}: {d.state.name.lower()}, {len(assigned)}/{need} partitions")
    return out


def wait_assigned(bootstrap: str, timeout_s: float = 60.0) -> list[str]:
    """Wait until every mapping's group has all its partitions; what is still missing."""
    deadline = time.monotonic() + timeout_s
    groups = mappings()
    while True:
        missing = unassigned(bootstrap, groups)
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)
