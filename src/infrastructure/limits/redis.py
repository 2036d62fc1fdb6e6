"""Fixed-window counters in Redis, shared by every replica (``REDIS_URL``).

One Lua script reads, checks and increments a window in a single server-side step, so two
replicas can never both take the last slot. A window is a key that expires ``window_s`` after
its first increment.

When Redis cannot be reached the limiter fails open: the turn is admitted, one warning line
says so (at most every ``_WARN_EVERY_S``), and Redis is not tried again for ``_RETRY_AFTER_S``
so an outage does not add a time-out to every request. Budgets are unaffected: they are
checked against the database.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from src.domain.admission import Window

log = logging.getLogger("orchestrator.limits")

_TAKE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
local amount = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if limit >= 0 and (current >= limit or current + amount > limit) then
  return {0, current, ttl}
end
if amount > 0 then
  current = redis.call('INCRBY', KEYS[1], amount)
  if ttl < 0 then
    ttl = tonumber(ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
return {1, current, ttl}
"""

_TIMEOUT_S = 0.5
_RETRY_AFTER_S = 1.0
_WARN_EVERY_S = 30.0


class RedisRateLimiter:
    """``timeout_s`` bounds each call to Redis, past which the turn is admitted (fail open)."""

    def __init__(
        self, url: str, *, prefix: str = "orchestrator:", timeout_s: float = _TIMEOUT_S
    ) -> None:
        self._redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._script = self._redis.register_script(_TAKE)
        self._prefix = prefix + "limit:"
        self._down_until = 0.0
        self._warned_at = -_WARN_EVERY_S

    async def take(self, key: str, amount: int, limit: int | None, window_s: float) -> Window:
        now = time.monotonic()
        if now < self._down_until:
            return Window(True, 0, window_s)
        window_ms = int(window_s * 1000)
        try:
            taken, count, ttl_ms = await self._script(
                keys=[self._prefix + key], args=[amount, -1 if limit is None else limit, window_ms]
            )
        except (RedisError, OSError) as error:
            self._down_until = now + _RETRY_AFTER_S
            if now - self._warned_at >= _WARN_EVERY_S:
                self._warned_at = now
                log.warning(
                    "rate limits not enforced: Redis unreachable (%s); admitting turns",
                    type(error).__name__,
                )
            return Window(True, 0, window_s)
        reset_s = ttl_ms / 1000 if ttl_ms > 0 else window_s
        return Window(bool(taken), int(count), reset_s)

    async def aclose(self) -> None:
        await self._redis.aclose()
