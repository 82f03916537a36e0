from __future__ import annotations

from common.recent_answers import RecentAnswers


class Store:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.asked = 0

    def get(self, key: str) -> str | None:
        self.asked += 1
        return self.values.get(key)


def test_an_answer_is_reused_until_it_is_old_and_a_missing_one_is_asked_again() -> None:
    store, now = Store(), [0.0]
    answers = RecentAnswers(store.get, ttl_s=60, clock=lambda: now[0])
    assert answers("m") is None and answers("m") is None
    assert store.asked == 2  # not found is not remembered: a new merchant appears at once
    store.values["m"] = "whsec_1"
    assert answers("m") == "whsec_1" and answers("m") == "whsec_1"
    assert store.asked == 3
    store.values["m"] = "whsec_2"
    now[0] = 59.9
    assert answers("m") == "whsec_1"
    now[0] = 60.0
    assert answers("m") == "whsec_2"  # a rotated secret is used within the ttl


def test_it_stays_bounded() -> None:
    store = Store()
    store.values = {str(i): "v" for i in range(10)}
    answers = RecentAnswers(store.get, ttl_s=60, max_entries=3)
    for i in range(10):
        answers(str(i))
    assert len(answers._answers) <= 3
