"""Run a function's handler the way Lambda does: one import per execution environment, the
function's environment variables, a context object, one invocation at a time per worker.

`LambdaPool` keeps N worker processes (N concurrent executions); each imports the handler by
the dotted name template.yaml gives, once, and then serves invocations in order.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from harness.orphans import die_with_parent
from harness.template import project_template

Handler = Callable[[Any, Any], Any]


class InvocationError(RuntimeError):
    """The function crashed or timed out; API Gateway answers 502 or 503 for it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    timeout_s: float
    memory_mb: int


def function_spec(name: str) -> FunctionSpec:
    t = project_template()
    props = t.functions()[name]
    glob = (t.doc.get("Globals") or {}).get("Function") or {}
    return FunctionSpec(
        name=name,
        handler=str(props["Handler"]),
        timeout_s=float(props.get("Timeout", glob.get("Timeout", 3))),
        memory_mb=int(props.get("MemorySize", glob.get("MemorySize", 128))),
    )


class LambdaContext:
    """The attributes and method of Lambda's Python context object."""

    def __init__(self, spec: FunctionSpec, deadline: float) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = spec.memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{spec.name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(dotted: str) -> Handler:
    module_name, _, attr = dotted.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attr)
    return handler


# -- inside a worker process -------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(spec: FunctionSpec, env: Mapping[str, str], parent: int) -> None:
    die_with_parent(parent)
    os.environ.update(env)
    _worker["spec"] = spec
    _worker["handler"] = load_handler(spec.handler)


def _invoke_in_worker(event: Any) -> Any:
    spec: FunctionSpec = _worker["spec"]
    context = LambdaContext(spec, time.monotonic() + spec.timeout_s)
    return _worker["handler"](event, context)


# -- in the caller -------------------------------------------------------------------


class LambdaPool:
    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], concurrency: int) -> None:
        self.spec = spec
        self._env = dict(env)
        self._concurrency = concurrency
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.spec, self._env, os.getpid()),
        )

    async def invoke(self, event: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._pool, _invoke_in_worker, event), self.spec.timeout_s
            )
        except TimeoutError:
            raise InvocationError(503, f"{self.spec.name} timed out") from None
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            raise InvocationError(502, f"{self.spec.name} execution environment died") from None
        except Exception as exc:  # the handler raised: Lambda reports an unhandled error
            raise InvocationError(502, f"{self.spec.name} raised {type(exc).__name__}") from None

    def warm_up(self) -> None:
        """Start every worker now (imports included) rather than on the first requests."""
        futures = [self._pool.submit(os.getpid) for _ in range(self._concurrency * 2)]
        for f in futures:
            f.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
