"""State that several replicas of the service must share: chat de-duplication and rate limits, in Redis.

One `newsqa serve` keeps both in its own memory, which is right for one process. Behind a proxy with several
replicas, Slack may retry an event to a replica other than the one that took it (it would be answered twice),
and a client spreading its requests over the replicas would get N times its rate limit. With
`NEWSQA_REDIS_URL` set, both live in Redis instead: an event's keys are claimed with SET NX EX in one script
(atomic: a retry reaching another replica at the same moment finds them taken), and the rate limits use the
`limits` library's Redis storage (the same moving window, one per client across every replica).

Every Redis call has a timeout and retries (`NEWSQA_REDIS_TIMEOUT_SECONDS`, redis-py's retry with backoff);
while Redis is unreachable, `/readyz` says so (503, JSON) and the requests that need it are refused with a JSON
503 and `Retry-After` (`shared_state_unavailable`), never a 500: a limit that cannot be checked is not silently
dropped, and Slack retries an event it got a 503 for. Both recover by themselves when Redis is back.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio
import redis.exceptions
from cachetools import TTLCache
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from app.api.errors import SharedStateUnavailableError
from app.config import Settings

log = logging.getLogger("newsqa.shared")

KEY_PREFIX = "newsqa:"
RETRIES = 2

# every key claimed or none: a retry that reaches another replica at the same moment finds them taken
_CLAIM = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, '1', 'NX', 'EX', ARGV[1])
end
return 1
"""

# what a Redis call can fail with when the server is down, slow or restarting (limits wraps some in its own)
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError, TimeoutError)
STORAGE_ERRORS: tuple[type[BaseException], ...] = (StorageError, *REDIS_ERRORS)


class Deduplicator(Protocol):
    duplicates: int

    async def first_time(self, *keys: str) -> bool: ...


class MemoryDeduplicator:
    """Event keys seen in the last `seconds`, in this process's memory (one replica)."""

    def __init__(self, seconds: int, capacity: int = 100_000) -> None:
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=capacity, ttl=seconds)
        self._lock = threading.Lock()
        self.duplicates = 0

    async def first_time(self, *keys: str) -> bool:
        """True (and remember every key) when none of the keys was seen; False for a duplicate."""
        with self._lock:
            if any(key in self._seen for key in keys):
                self.duplicates += 1
                return False
            for key in keys:
                self._seen[key] = True
            return True


class RedisDeduplicator:
    """Event keys seen in the last `seconds`, in Redis: shared by every replica."""

    def __init__(self, client: redis.asyncio.Redis, seconds: int) -> None:
        self.client = client
        self.seconds = seconds
        self.duplicates = 0  # seen by this replica
        self._claim = client.register_script(_CLAIM)

    async def first_time(self, *keys: str) -> bool:
        try:
            claimed = await self._claim(keys=[f"{KEY_PREFIX}seen:{k}" for k in keys], args=[self.seconds])
        except REDIS_ERRORS as exc:
            raise unavailable("chat de-duplication", exc) from exc
        if not claimed:
            self.duplicates += 1
        return bool(claimed)


@dataclass
class RateLimits:
    """The moving-window rate limiter over this process's memory or over Redis."""

    storage: Storage
    limiter: MovingWindowRateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, key: str) -> tuple[bool, float]:
        """(allowed, when the window resets) for one request of `key`."""
        try:
            if await self.limiter.hit(item, key):
                return True, 0.0
            return False, (await self.limiter.get_window_stats(item, key)).reset_time
        except STORAGE_ERRORS as exc:  # limits wraps the storage's own errors in StorageError
            raise unavailable("the rate limit", exc) from exc


def redis_options(settings: Settings, asynchronous: bool) -> dict[str, Any]:
    """What every Redis client of the service is made with: the timeout of each call, two retries with
    backoff on a dropped or slow connection (redis-py has one retry class per kind of client), and a health
    check of idle connections."""
    timeout = settings.redis_timeout_seconds
    retry = AsyncRetry if asynchronous else Retry
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry(ExponentialBackoff(cap=timeout, base=0.01), RETRIES),
        "retry_on_error": [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        "health_check_interval": 10,
    }


def sync_redis(settings: Settings) -> redis.Redis | None:
    """A blocking client, for the work that runs on threads (jobs, the writers' lock); None without Redis."""
    if settings.redis_url is None:
        return None
    return redis.Redis.from_url(settings.redis_url.get_secret_value(), **redis_options(settings, asynchronous=False))


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def unavailable(what: str, exc: BaseException) -> SharedStateUnavailableError:
    """The error a client gets when Redis did not answer: what could not be done, not where Redis lives (the
    detail, with its host and port, goes to the log)."""
    log.warning("%s: Redis did not answer: %s", what, _reason(exc))
    return SharedStateUnavailableError(f"{what}: the shared state (Redis) did not answer; retry shortly")


@dataclass
class SharedState:
    """What the replicas share: Redis when NEWSQA_REDIS_URL is set, else this process's memory."""

    redis: redis.asyncio.Redis | None
    dedup: Deduplicator
    rate_limits: RateLimits

    @classmethod
    def from_settings(cls, settings: Settings) -> SharedState:
        if settings.redis_url is None:
            return cls(None, MemoryDeduplicator(settings.slack_dedup_seconds), RateLimits(MemoryStorage()))
        url = settings.redis_url.get_secret_value()
        options = redis_options(settings, asynchronous=True)
        client = redis.asyncio.Redis.from_url(url, **options)
        # the limits library names its schemes async+redis://, async+rediss://, async+redis+unix:// and passes
        # redis-py's options as they are, so its client gets the same timeouts and retries
        limits_url = "async+redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else (
            url if url.startswith("async+") else f"async+{url}")
        storage = RedisStorage(limits_url, implementation="redispy", key_prefix=f"{KEY_PREFIX}limits",
                               wrap_exceptions=True, **options)
        return cls(client, RedisDeduplicator(client, settings.slack_dedup_seconds), RateLimits(storage))

    async def unreachable(self) -> str | None:
        """Why the shared state cannot be used now (None: it can), for readiness."""
        if self.redis is None:
            return None
        try:
            await self.redis.ping()
        except REDIS_ERRORS as exc:
            log.warning("readiness: Redis did not answer: %s", _reason(exc))
            return "the shared state (Redis) is unreachable"
        return None

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
