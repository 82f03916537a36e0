"""Creates the Kafka topics that template.yaml lists, with their partition counts."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from harness.infra.probes import QUIET_LIBRDKAFKA
from harness.template import KafkaTopic


class TopicError(RuntimeError):
    """A topic could not be created or has more partitions than configured."""


def ensure_topics(bootstrap: str, topics: Sequence[KafkaTopic], timeout: float = 30.0) -> list[str]:
    """Create missing topics, grow ones with too few partitions; return what was done."""
    admin = AdminClient({"bootstrap.servers": bootstrap}, logger=QUIET_LIBRDKAFKA)
    existing = admin.list_topics(timeout=timeout).topics
    done: list[str] = []
    missing = [t for t in topics if t.name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(t.name, num_partitions=t.partitions, replication_factor=1) for t in missing],
            operation_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result()
                done.append(f"created {name}")
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise TopicError(f"creating topic {name}: {exc}") from exc
    grow = []
    for t in topics:
        meta = existing.get(t.name)
        if meta is None:
            continue
        have = len(meta.partitions)
        if have > t.partitions:
            raise TopicError(
                f"topic {t.name} has {have} partitions, template.yaml says {t.partitions}: "
                "Kafka cannot shrink a topic; delete the data folder (make infra-clean)"
            )
        if have < t.partitions:
            grow.append(NewPartitions(t.name, t.partitions))
    if grow:
        for name, future in admin.create_partitions(grow, operation_timeout=timeout).items():
            future.result()
            done.append(f"grew {name}")
    return done
