"""`harness status` and the status page read the real Kafka, MongoDB wire server and Redis."""

from fastapi.testclient import TestClient

from harness import pipeline, status_page
from harness.infra.settings import InfraSettings
from harness.template import project_template


def test_pipeline_status_covers_every_topic_with_lag_for_the_mapped_ones(
    infra: InfraSettings,
) -> None:
    status = pipeline.collect(infra)
    assert status.errors == {}
    by_name = {t.name: t for t in status.topics}
    assert set(by_name) == {t.name for t in project_template().kafka_topics()}
    assert by_name["payments.requested"].consumer == "ProcessFunction (paygate-process)"
    assert by_name["payments.processed"].consumer == "NotifyFunction (paygate-notify)"
    for name in ("payments.requested", "payments.processed"):
        lag = by_name[name].lag
        assert lag is not None and 0 <= lag <= by_name[name].end_offset
    assert all(by_name[n].lag is None for n in by_name if n.endswith(".dlq"))
    assert status.breaker["state"] in {"closed", "open", "half-open"}
    text = "\n".join(pipeline.render_text(status))
    assert "payments.requested" in text and "bank circuit breaker" in text


def test_a_source_that_does_not_answer_is_reported_and_the_rest_still_shown(
    infra: InfraSettings,
) -> None:
    elsewhere = infra.model_copy(update={"redis_port": 1})
    status = pipeline.collect(elsewhere)
    assert set(status.errors) == {"redis"}
    assert status.topics and "NOT ANSWERING: redis" in "\n".join(pipeline.render_text(status))


def test_status_page_serves_html_and_json(infra: InfraSettings) -> None:
    client = TestClient(status_page.create_status_app(infra))
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "payments.requested" in page.text and 'http-equiv="refresh"' in page.text
    doc = client.get("/status.json").json()
    assert {"services", "topics", "payments", "deliveries", "breaker", "deadLetters"} <= set(doc)
    assert {s["name"] for s in doc["services"]} >= {"kafka", "redis", "api", "status"}
