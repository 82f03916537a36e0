"""The load tools: `wrk` (closed loop, keep-alive; from Debian) and bench/loadgen (an open-loop
driver in Go, built once into the cache), and py-spy from the venv."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.template import REPO_ROOT

LOADGEN_SRC = REPO_ROOT / "bench" / "loadgen"
CACHE = Path.home() / ".cache" / "paygate" / "bench"

# wrk: each request gets a unique Idempotency-Key (and reference) from its thread and counter;
# done() prints one JSON line the harness parses.
_WRK_LUA = """
local counter = 0
local thread_id = 0
local threads = {}
local body_template = nil
function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  body_template = args[1]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
  end
end
function request()
  counter = counter + 1
  local id = "wrk-" .. thread_id .. "-" .. counter .. "-" .. math.random(1, 1000000000)
  local headers = {}  -- wrk.format() takes these instead of wrk.headers, not on top
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if wrk.headers["X-API-Key"] ~= nil then headers["Idempotency-Key"] = id end
  local body = body_template and body_template:gsub("{{ID}}", id) or nil
  return wrk.format(nil, nil, headers, body)
end
statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do
      if code < 200 or code > 299 then non2xx = non2xx + n end
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,' ..
    '"timeouts":%d,"non2xx":%d,"p50Us":%d,"p99Us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, non2xx,
    latency:percentile(50), latency:percentile(99)))
end
"""


class ToolError(RuntimeError):
    pass


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(argv, check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise ToolError("wrk is missing and `apt-get install wrk` did not install it")
    return found


def ensure_loadgen() -> Path:
    digest = hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted(LOADGEN_SRC.glob("*.go")))
        + (LOADGEN_SRC / "go.mod").read_bytes()
    ).hexdigest()[:12]
    binary = CACHE / f"loadgen-{digest}"
    if not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        build = subprocess.run(
            ["go", "build", "-o", str(binary), "."],
            check=False,
            cwd=LOADGEN_SRC,
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            raise ToolError(f"go build of bench/loadgen failed:\n{build.stderr}")
    return binary


def py_spy() -> str:
    candidate = Path(sys.executable).parent / "py-spy"
    found = str(candidate) if candidate.exists() else shutil.which("py-spy")
    if not found:
        raise ToolError("py-spy is missing (pip install -e '.[bench]')")
    return found


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    """Socket errors, timeouts and non-2xx answers."""
    non2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "non2xx": self.non2xx,
            "p50Ms": round(self.p50_ms, 2),
            "p99Ms": round(self.p99_ms, 2),
        }


def run_wrk(
    url: str,
    seconds: float,
    *,
    connections: int = 64,
    threads: int = 1,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    work_dir: Path,
) -> WrkResult:
    """POST `body` (with `{{ID}}` made unique per request) to `url` for `seconds`."""
    work_dir.mkdir(parents=True, exist_ok=True)
    script = work_dir / "bench.lua"
    script.write_text(_WRK_LUA)
    argv = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",  # wrk hands what follows to init()
        body or "",
        *[f"{k}: {v}" for k, v in (headers or {}).items()],
    ]
    run = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 60)
    line = next((s for s in run.stdout.splitlines() if s.startswith("{")), None)
    if run.returncode != 0 or line is None:
        raise ToolError(f"wrk failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    raw = json.loads(line)
    socket_errors = sum(raw[k] for k in ("connectErrors", "readErrors", "writeErrors", "timeouts"))
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["durationUs"] / 1e6,
        errors=socket_errors + raw["non2xx"],
        non2xx=raw["non2xx"],
        p50_ms=raw["p50Us"] / 1000,
        p99_ms=raw["p99Us"] / 1000,
    )


def run_loadgen(
    url: str,
    rate: float,
    seconds: float,
    *,
    body_file: Path | None = None,
    headers: dict[str, str] | None = None,
    records: Path | None = None,
    id_prefix: str = "bench",
    max_backlog_s: float = 3.0,
) -> dict[str, Any]:
    """Open loop: `rate` requests/s for `seconds`; latencies from each scheduled send time."""
    argv = [
        str(ensure_loadgen()),
        "-url",
        url,
        "-rate",
        str(rate),
        "-duration",
        f"{seconds}s",
        "-id-prefix",
        id_prefix,
        "-max-backlog",
        f"{max_backlog_s}s",
    ]
    if body_file is not None:
        argv += ["-body", str(body_file)]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    if records is not None:
        argv += ["-records", str(records)]
    run = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 120)
    if run.returncode != 0:
        raise ToolError(f"loadgen failed ({run.returncode}):\n{run.stderr}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result
