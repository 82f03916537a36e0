"""Run a function's handler the way Lambda does: one import per execution environment, the
function's environment variables, a context object, one invocation at a time per worker.

`LambdaPool` keeps N execution environments (N concurrent executions), each a process that
imports the handler by the dotted name template.yaml gives, once, and then serves
invocations in order.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import pickle
import socket
import struct
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
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


# -- inside an execution environment ---------------------------------------------------

_READY = b"ready"


def _serve_environment(
    spec: FunctionSpec, env: Mapping[str, str], parent: int, channel: Connection
) -> None:
    """An execution environment's life: import the handler once, then one invocation at a
    time, each a pickled event in and a pickled ("ok", result) or ("error", name) out."""
    die_with_parent(parent)
    os.environ.update(env)
    handler = load_handler(spec.handler)
    channel.send_bytes(_READY)
    while True:
        try:
            event = pickle.loads(channel.recv_bytes())  # noqa: S301 - our own front's frames
        except EOFError:
            return
        context = LambdaContext(spec, time.monotonic() + spec.timeout_s)
        try:
            reply: tuple[str, Any] = ("ok", handler(event, context))
        except Exception as exc:  # Lambda reports an unhandled error
            reply = ("error", type(exc).__name__)
        channel.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


# -- in the caller -------------------------------------------------------------------

_FRAME = struct.Struct("!i")
"""multiprocessing.Connection's framing: a 4-byte big-endian length, then the bytes."""


class _Environment:
    """One execution environment seen from the caller: its process and, once an event loop
    invokes it, the asyncio streams over the same socket pair."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str]) -> None:
        ours, theirs = multiprocessing.Pipe(duplex=True)
        self.process = _SPAWN.Process(
            target=_serve_environment,
            args=(spec, dict(env), os.getpid(), theirs),
            name=f"lambda-{spec.name}",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self._channel = ours
        self._ready = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    def wait_ready(self) -> None:
        if not self._ready:
            if self._channel.recv_bytes() != _READY:
                raise InvocationError(502, "execution environment did not start")
            self._ready = True

    async def ready(self) -> None:
        """The init phase (a fresh environment importing its handler), as Lambda runs it
        before the invocation and outside the function's timeout."""
        if not self._ready:
            await asyncio.to_thread(self.wait_ready)

    async def invoke(self, event: Any) -> tuple[str, Any]:
        reader, writer = await self._open()
        payload = pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL)
        writer.write(_FRAME.pack(len(payload)) + payload)
        (size,) = _FRAME.unpack(await reader.readexactly(_FRAME.size))
        reply: tuple[str, Any] = pickle.loads(await reader.readexactly(size))  # noqa: S301
        return reply

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        if self._streams is None or self._loop is not loop:
            sock = socket.socket(fileno=os.dup(self._channel.fileno()))
            self._streams = await asyncio.open_connection(sock=sock, limit=2**24)
            self._loop = loop
        return self._streams

    def kill(self, grace_s: float = 0.0) -> None:
        """Close its channel (an idle environment then returns) and kill what is left after
        `grace_s`."""
        if self._streams is not None:
            self._streams[1].close()
        self._channel.close()
        self.process.join(grace_s)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


_SPAWN = multiprocessing.get_context("spawn")


class LambdaPool:
    """`concurrency` execution environments of one function. An invocation takes the
    environment used most recently among the idle ones (as Lambda reuses a warm one), or
    waits for one; a timed-out or crashed environment is replaced by a fresh (cold) one.
    The front talks to each over a socket pair with asyncio streams: no thread, no queue of
    multiprocessing's, between an event and its environment."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], concurrency: int) -> None:
        self.spec = spec
        self._env = dict(env)
        self._concurrency = concurrency
        self._all = [_Environment(spec, self._env) for _ in range(concurrency)]
        self._idle_list = list(self._all)
        self._idle: asyncio.LifoQueue[_Environment] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _idle_queue(self) -> asyncio.LifoQueue[_Environment]:
        loop = asyncio.get_running_loop()
        if self._idle is None or self._loop is not loop:
            self._idle, self._loop = asyncio.LifoQueue(), loop
            for environment in self._idle_list:
                self._idle.put_nowait(environment)
        return self._idle

    async def invoke(self, event: Any) -> Any:
        idle = self._idle_queue()
        environment = await idle.get()
        self._idle_list.remove(environment)
        try:
            await environment.ready()
            status, value = await asyncio.wait_for(environment.invoke(event), self.spec.timeout_s)
        except TimeoutError:
            environment = self._replace(environment)
            raise InvocationError(503, f"{self.spec.name} timed out") from None
        except asyncio.CancelledError:  # its answer would be read by the next invocation
            environment = self._replace(environment)
            raise
        except (OSError, EOFError, asyncio.IncompleteReadError, InvocationError):
            environment = self._replace(environment)
            raise InvocationError(502, f"{self.spec.name} execution environment died") from None
        finally:
            self._idle_list.append(environment)
            idle.put_nowait(environment)
        if status != "ok":  # the handler raised: Lambda reports an unhandled error
            raise InvocationError(502, f"{self.spec.name} raised {value}")
        return value

    def _replace(self, environment: _Environment) -> _Environment:
        environment.kill()
        fresh = _Environment(self.spec, self._env)
        self._all[self._all.index(environment)] = fresh
        return fresh

    def warm_up(self) -> None:
        """Wait until every environment has imported its handler."""
        for environment in self._all:
            environment.wait_ready()

    def close(self) -> None:
        for environment in self._all:
            environment.kill(grace_s=2.0)
