"""The bank breaker's shared state in Redis: pybreaker's state keys, plus a sliding window of
call results that every worker adds to.

pybreaker's CircuitRedisStorage keeps a state, `opened_at` and a consecutive-failure counter.
The ratio breaker (common/adapters/ratio_breaker.py) needs the calls and failures of the last
`sampling_s` seconds instead, seen by every worker:
- the window is one Redis hash per second (`{ns}:w:{epoch second}`: calls, failures) that
  expires after the window; one Lua script adds this process's counts and sums the window in
  one round trip;
- a failed call is added at once (the breaker may have to open on it); successful calls are
  counted here and added at most every `refresh_s` (or with the next failure), so a healthy
  bank costs one round trip per process per `refresh_s`, not one per call (measured before:
  two round trips per call were a quarter of the process workers' CPU);
- the state is read again once it is `refresh_s` old (another worker's opening of the breaker
  is seen within that time, its own at once);
- the move from open to half-open, and the probes half-open lets through, are decided in
  Redis (a script each), so two workers never both start a half-open period and the probes
  are bounded across workers.
If Redis does not answer, the window reads empty and the state closed: calls go on (pybreaker's
own fallback), and no constructor or call raises for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pybreaker
import redis
from redis.exceptions import RedisError

_WINDOW = """
local prefix, now, span = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local calls, failures = tonumber(ARGV[4]), tonumber(ARGV[5])
if calls > 0 then
  local key = prefix .. now
  redis.call('HINCRBY', key, 'c', calls)
  if failures > 0 then redis.call('HINCRBY', key, 'f', failures) end
  redis.call('EXPIRE', key, span + 5)
end
local since = tonumber(redis.call('GET', prefix .. 'since') or '0')
local c, f = 0, 0
for s = math.max(now - span + 1, since), now do
  local v = redis.call('HMGET', prefix .. s, 'c', 'f')
  c = c + (tonumber(v[1]) or 0)
  f = f + (tonumber(v[2]) or 0)
end
return {c, f}
"""

_CLEAR = """
redis.call('SET', ARGV[1] .. 'since', ARGV[2])
redis.call('DEL', ARGV[1] .. ARGV[2])
return 1
"""

_HALF_OPEN = """
local state = redis.call('GET', KEYS[1])
if state ~= 'open' then return state or 'closed' end
local opened = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) < opened + tonumber(ARGV[2]) then return 'open' end
redis.call('SET', KEYS[1], 'half-open')
redis.call('SET', KEYS[3], 0)
return 'half-open'
"""

_PROBE = """
local state = redis.call('GET', KEYS[1])
if state ~= 'half-open' then return 0 end
local n = redis.call('INCR', KEYS[2])
if n > tonumber(ARGV[1]) then return 0 end
return 1
"""


class SharedBreakerStorage(pybreaker.CircuitRedisStorage):
    """`increment_counter` records a failed call and `reset_counter` a successful one (the two
    hooks pybreaker calls after each call); `window` is (calls, failures) of the last
    `sampling_s` seconds across all workers, as of the last exchange with Redis."""

    def __init__(
        self,
        state: str,
        redis_object: redis.Redis,
        namespace: str,
        *,
        sampling_s: int = 30,
        refresh_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(state, redis_object, namespace=namespace)
        self._sampling_s = max(1, int(sampling_s))
        self._refresh_s = refresh_s
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._state: str | None = None
        self._state_read_at = float("-inf")
        self._unsent_calls = 0
        self._sent_at = float("-inf")
        self.window: tuple[int, int] = (0, 0)
        self._window_script = redis_object.register_script(_WINDOW)
        self._clear_script = redis_object.register_script(_CLEAR)
        self._half_open_script = redis_object.register_script(_HALF_OPEN)
        self._probe_script = redis_object.register_script(_PROBE)

    def _initialize_redis_state(self, state: str) -> None:
        # pybreaker calls this from its constructor: a cold start with Redis down must not
        # raise (the state then reads as the fallback, closed, until Redis answers).
        try:
            super()._initialize_redis_state(state)
        except RedisError:
            self.logger.warning("Redis unreachable: breaker state not initialized")

    # -- state ------------------------------------------------------------------------

    @property
    def state(self) -> str:
        now = self._clock()
        if self._state is None or now - self._state_read_at >= self._refresh_s:
            try:
                self._state, self._state_read_at = super().state, now
            except RedisError:  # the re-initialization of a missing state failed
                return self._fallback_circuit_state
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        pybreaker.CircuitRedisStorage.state.fset(self, state)  # type: ignore[attr-defined]
        self._state, self._state_read_at = str(state), self._clock()

    def begin_half_open(self, break_s: float) -> str:
        """Open for `break_s` already: half-open now, for every worker. The shared state
        after the move (another worker may have closed the breaker meanwhile)."""
        keys = [self._namespace("state"), self._namespace("opened_at"), self._probes_key]
        try:
            found = self._half_open_script(keys=keys, args=[int(self._wall()), break_s])
        except RedisError:  # Redis gone: the breaker falls back to letting calls through
            return self._fallback_circuit_state
        state = found.decode() if isinstance(found, bytes) else str(found)
        self._state, self._state_read_at = state, self._clock()
        return state

    def take_probe(self, probes: int) -> bool:
        """One of the `probes` calls a half-open period lets through, across all workers."""
        try:
            keys = [self._namespace("state"), self._probes_key]
            return bool(self._probe_script(keys=keys, args=[probes]))
        except RedisError:
            return True

    @property
    def _probes_key(self) -> str:
        return self._namespace("probes")

    # -- the window ---------------------------------------------------------------------

    def increment_counter(self) -> None:
        with self._lock:
            calls, self._unsent_calls = self._unsent_calls + 1, 0
            self._sent_at = self._clock()
        self._send(calls, 1)

    def reset_counter(self) -> None:
        with self._lock:
            self._unsent_calls += 1
            if self._clock() - self._sent_at < self._refresh_s:
                return
            calls, self._unsent_calls = self._unsent_calls, 0
            self._sent_at = self._clock()
        self._send(calls, 0)

    def clear_window(self) -> None:
        """Forget the calls so far (the breaker closed: it starts counting anew)."""
        with self._lock:
            self._unsent_calls = 0
        try:
            self._clear_script(args=[self._window_prefix, int(self._wall())])
        except RedisError:
            self.logger.warning("Redis unreachable: breaker window not cleared")
        self.window = (0, 0)

    @property
    def counter(self) -> int:
        """Failed calls in the window (what pybreaker and the status page call the counter)."""
        return self.read_window()[1]

    def read_window(self) -> tuple[int, int]:
        self._send(0, 0)
        return self.window

    def _send(self, calls: int, failures: int) -> None:
        args: list[Any] = [self._window_prefix, int(self._wall()), self._sampling_s]
        try:
            c, f = self._window_script(args=[*args, calls, failures])
        except RedisError:
            self.logger.warning("Redis unreachable: breaker window not updated")
            self.window = (0, 0)
            return
        self.window = (int(c), int(f))

    @property
    def _window_prefix(self) -> str:
        return self._namespace("w:")
