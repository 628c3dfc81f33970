"""apps/core/cache.py: one Redis client per pool, and the window counter the tenant throttle
uses, on the configured cache (Redis in CI) and on the in-process one."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from apps.core.cache import RedisCache, incr_window


@pytest.mark.parametrize("which", ["configured", "locmem"])
def test_window_counter_counts_and_expires(which) -> None:
    cache = caches["default"] if which == "configured" else LocMemCache("t", {})
    assert [incr_window(cache, "w:1", timeout=60) for _ in range(3)] == [1, 2, 3]
    assert incr_window(cache, "w:2", timeout=60) == 1  # another window is another key
    cache.delete("w:1")
    assert incr_window(cache, "w:1", timeout=60) == 1
    assert cache.get("w:1") == 1  # readable as a plain cache value too


def test_the_redis_backend_reuses_its_client() -> None:
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        pytest.skip("the configured cache is not Redis")
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
    ttl = cache._cache.get_client(write=True)
    incr_window(cache, "w:ttl", timeout=30)
    assert 0 < ttl.ttl(cache.make_and_validate_key("w:ttl")) <= 30
