"""API Gateway HTTP API events: routes from template.yaml, the documented event shape, and
the committed sample events in events/intake/ kept to that shape."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from mangum import Mangum

from functions.intake.app import create_app
from harness.apigw_events import http_api_event, http_response, match, routes_from_template
from harness.template import REPO_ROOT, project_template
from tests.unit.test_intake_api import Deps

ROUTES = routes_from_template(project_template())
EVENTS = REPO_ROOT / "events" / "intake"

# The payload 2.0 shape in AWS's developer guide ("Working with AWS Lambda proxy integrations
# for HTTP APIs"): required keys, and those that appear only when there is something to carry.
REQUIRED = {
    "version",
    "routeKey",
    "rawPath",
    "rawQueryString",
    "headers",
    "requestContext",
    "isBase64Encoded",
}
OPTIONAL = {"body", "cookies", "queryStringParameters", "pathParameters", "stageVariables"}
CONTEXT = {
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "http",
    "requestId",
    "routeKey",
    "stage",
    "time",
    "timeEpoch",
}
HTTP = {"method", "path", "protocol", "sourceIp", "userAgent"}


def assert_v2_shape(event: dict[str, Any]) -> None:
    assert event["version"] == "2.0"
    assert REQUIRED <= set(event) <= REQUIRED | OPTIONAL
    assert set(event["requestContext"]) >= CONTEXT
    assert set(event["requestContext"]["http"]) == HTTP
    assert all(k == k.lower() for k in event["headers"])
    assert isinstance(event["requestContext"]["timeEpoch"], int)


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("POST", "/api/payments", "POST /api/payments", {}),
        (
            "GET",
            "/api/payments/abc-123",
            "GET /api/payments/{transactionId}",
            {"transactionId": "abc-123"},
        ),
        ("GET", "/health", "GET /health", {}),
        ("GET", "/openapi.json", "GET /openapi.json", {}),
    ],
)
def test_routes_come_from_the_template(
    method: str, path: str, route_key: str, params: dict[str, str]
) -> None:
    found = match(ROUTES, method, path)
    assert found is not None
    route, got = found
    assert route.route_key == route_key and route.function == "IntakeFunction"
    assert got == params


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/payments"),
        ("DELETE", "/api/payments/x"),
        ("GET", "/api/payments/a/b"),
        ("GET", "/"),
        ("GET", "/healthz"),
    ],
)
def test_unrouted_requests_match_nothing(method: str, path: str) -> None:
    assert match(ROUTES, method, path) is None


def test_event_joins_repeated_headers_splits_cookies_and_parses_queries() -> None:
    event = http_api_event(
        method="GET",
        raw_path="/health",
        raw_query="a=1&a=2&b=",
        headers=[("X-Thing", "1"), ("x-thing", "2"), ("Cookie", "s=1; t=2"), ("Host", "h:3000")],
    )
    assert_v2_shape(event)
    assert event["headers"]["x-thing"] == "1,2"
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["requestContext"]["domainName"] == "h"
    assert "body" not in event


def test_binary_bodies_travel_base64_and_text_as_text() -> None:
    binary = http_api_event(
        method="POST",
        raw_path="/x",
        body=b"\xff\x00",
        headers=[("content-type", "application/octet-stream")],
    )
    assert binary["isBase64Encoded"] and base64.b64decode(binary["body"]) == b"\xff\x00"
    bad_utf8 = http_api_event(
        method="POST", raw_path="/x", body=b"\xff", headers=[("content-type", "application/json")]
    )
    assert bad_utf8["isBase64Encoded"]
    text = http_api_event(
        method="POST",
        raw_path="/x",
        body=b'{"a":1}',
        headers=[("content-type", "application/json")],
    )
    assert not text["isBase64Encoded"] and text["body"] == '{"a":1}'


def test_responses_convert_like_api_gateway() -> None:
    r = http_response(
        {
            "statusCode": 201,
            "headers": {"a": "b"},
            "cookies": ["c=1"],
            "body": base64.b64encode(b"\x00").decode(),
            "isBase64Encoded": True,
        }
    )
    assert (r.status, r.body) == (201, b"\x00")
    assert ("set-cookie", "c=1") in r.headers and ("a", "b") in r.headers
    bare = http_response({"hello": "world"})
    assert bare.status == 200 and json.loads(bare.body) == {"hello": "world"}


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_sample_events_have_the_real_shape(path: Path) -> None:
    event = json.loads(path.read_text())
    if path.name.startswith("rest-v1"):
        assert {
            "resource",
            "path",
            "httpMethod",
            "headers",
            "multiValueHeaders",
            "requestContext",
            "body",
            "isBase64Encoded",
        } <= set(event)
        return
    assert_v2_shape(event)
    found = match(ROUTES, event["requestContext"]["http"]["method"], event["rawPath"])
    assert found is not None and found[0].route_key == event["routeKey"]
    assert event.get("pathParameters", {}) == found[1]
    regenerated = http_api_event(
        method=event["requestContext"]["http"]["method"],
        raw_path=event["rawPath"],
        headers=event["headers"].items(),
        body=(event.get("body") or "").encode(),
        route=found[0],
        path_parameters=found[1] or None,
    )
    assert set(regenerated) == set(event)
    assert set(regenerated["requestContext"]) == set(event["requestContext"])


def test_mangum_serves_both_payload_versions() -> None:
    handler = Mangum(create_app(Deps()), lifespan="off")
    for name in ("health.json", "rest-v1-health.json"):
        result = handler(json.loads((EVENTS / name).read_text()), None)
        assert result["statusCode"] == 200, name
        assert json.loads(result["body"])["status"] == "ok"
