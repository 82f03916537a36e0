"""Local API Gateway (HTTP API, payload 2.0) in front of the functions template.yaml routes.

An HTTP request becomes the event API Gateway would send; the function runs in a pool of
Lambda-like worker processes (harness/lambda_runtime.py); its result becomes the response.
Like API Gateway: unmatched routes answer 404 `{"message":"Not Found"}`, a body over 10 MB
413, a crashed function 502 `{"message":"Internal Server Error"}`, a timed-out one 503.

Not emulated: authorizers, IAM, throttling, custom domains, stages other than `$default`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from harness.apigw_events import Route, http_api_event, http_response, match, routes_from_template
from harness.infra.settings import InfraSettings
from harness.lambda_runtime import InvocationError, LambdaPool, function_spec
from harness.local_env import function_env
from harness.template import project_template

log = logging.getLogger("paygate.apigw")

MAX_PAYLOAD = 10 * 1024 * 1024
MAX_HEADER_BYTES = 10 * 1024  # API Gateway's quota for the request line and headers
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ApiGateway:
    def __init__(self, routes: list[Route], pools: dict[str, LambdaPool]) -> None:
        self.routes = routes
        self.pools = pools

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        path = scope["path"]
        found = match(self.routes, method, path)
        if found is None:
            await _reply(send, 404, {"message": "Not Found"})
            return
        route, params = found
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            await _reply(send, 431, {"message": "Request Header Fields Too Large"})
            return
        body = await _read_body(receive)
        if body is None:
            await _reply(send, 413, {"message": "Request Entity Too Large"})
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        client = scope.get("client") or ("127.0.0.1", 0)
        event = http_api_event(
            method=method,
            raw_path=scope.get("raw_path", path.encode()).decode("latin-1").split("?", 1)[0],
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            route=route,
            path_parameters=params,
            source_ip=client[0],
        )
        try:
            result = await self.pools[route.function].invoke(event)
        except InvocationError as exc:
            log.error("invocation failed", extra={"function": route.function, "reason": str(exc)})
            message = "Internal Server Error" if exc.status == 502 else "Service Unavailable"
            await _reply(send, exc.status, {"message": message})
            return
        response = http_response(result)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_PAYLOAD:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Send, status: int, body: dict[str, str]) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def serve(host: str, port: int, concurrency: int, infra: InfraSettings) -> None:
    """Serve every HttpApi route of template.yaml until interrupted."""
    routes = routes_from_template(project_template())
    pools = {
        name: LambdaPool(function_spec(name), function_env(name, infra), concurrency)
        for name in {r.function for r in routes}
    }
    for pool in pools.values():
        pool.warm_up()
    try:
        uvicorn.run(
            ApiGateway(routes, pools),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            limit_concurrency=1000,
            timeout_keep_alive=30,
            h11_max_incomplete_event_size=16 * 1024,
        )
    finally:
        for pool in pools.values():
            pool.close()


def serve_direct(host: str, port: int, workers: int, infra: InfraSettings) -> None:
    """The intake app under uvicorn without the Lambda hand-off (for throughput)."""
    os.environ.update(function_env("IntakeFunction", infra))
    uvicorn.run(
        "functions.intake.handler:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
