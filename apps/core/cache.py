"""Django's Redis cache backend, keeping one ``redis.Redis`` client per connection pool.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache call;
its constructor fills a table of some 170 response callbacks, which made each cache call
cost more CPU than the network round trip (two calls per API request: the tenant throttle).
The client is thread-safe and shares the pool's connections, so one per pool is enough; the
pool itself already reconnects after a fork."""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient


def incr_window(cache: Any, key: str, timeout: int) -> int:
    """Add one to a counter that lives about ``timeout`` seconds, and return the new count.
    On Redis one round trip (INCR and EXPIRE in one pipeline; Django's ``incr`` first asks
    whether the key exists, and ``add`` before it makes three); elsewhere ``add``, then ``incr``."""
    if isinstance(cache, RedisCache):
        full = cache.make_and_validate_key(key)
        pipe = cache._cache.get_client(full, write=True).pipeline(transaction=False)
        pipe.incr(full)
        pipe.expire(full, timeout)
        count, _ = pipe.execute()
        return int(count)
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1
