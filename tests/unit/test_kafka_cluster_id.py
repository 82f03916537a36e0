from __future__ import annotations

import base64

from harness.infra.native import kafka_cluster_id


def test_cluster_ids_are_16_random_bytes_never_starting_like_an_option() -> None:
    ids = {kafka_cluster_id() for _ in range(2000)}  # about 31 would start with "-"
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
