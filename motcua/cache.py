"""The shared cache (throttles, proof lock-outs, short-lived page data): Redis, shared by every
process — and while Redis cannot be reached, a memory of this process's own, so the public pages
degrade (limits counted per process for a while) instead of answering 500. Redis is tried again
every few seconds; nothing here is data that must survive."""

import logging
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class FallbackRedisCache(RedisCache):
    #: Seconds between two tries of a Redis found unreachable (each try costs a connect timeout).
    retry_seconds = 5.0

    def __init__(self, server, params):
        super().__init__(server, params)
        self._fallback = LocMemCache(f"redis-fallback:{server}", {"TIMEOUT": params.get("TIMEOUT", 300)})
        self._down_until = 0.0

    def _call(self, name, *args, **kwargs):
        if time.monotonic() >= self._down_until:
            try:
                result = getattr(RedisCache, name)(self, *args, **kwargs)
            except UNREACHABLE as exc:
                logger.warning("cache: Redis unreachable (%s); this process counts on its own", exc)
                self._down_until = time.monotonic() + self.retry_seconds
            else:
                self._down_until = 0.0
                return result
        return getattr(self._fallback, name)(*args, **kwargs)


def _delegate(name):
    def method(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    return method


for _name in ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr",
              "set_many", "delete_many", "clear"):
    setattr(FallbackRedisCache, _name, _delegate(_name))
