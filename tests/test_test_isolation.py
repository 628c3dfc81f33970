"""The test harness's own promise: xdist workers never share a Redis database."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import _own_redis_databases


def _db(url: str) -> int:
    return int(url.rpartition("/")[2])


@given(count=st.integers(1, 4), cache=st.integers(0, 5), broker=st.integers(0, 5), replaced=st.integers(0, 2))
def test_no_two_workers_share_a_redis_database(count: int, cache: int, broker: int, replaced: int) -> None:
    """Workers 0..count-1, and the ones xdist starts (with higher indexes) to replace crashed ones."""
    workers = range(count + replaced)
    urls = [
        _own_redis_databases(w, f"redis://127.0.0.1:6379/{cache}", f"redis://127.0.0.1:6379/{broker}") for w in workers
    ]
    caches, brokers = [_db(c) for c, _ in urls], [_db(b) for _, b in urls]
    assert len(set(caches)) == len(set(brokers)) == len(workers)  # each worker its own of each
    if cache != broker:  # the configured pair does not overlap already
        assert not set(caches) & set(brokers)
    assert all(0 <= db <= 15 for db in itertools.chain(caches, brokers))


def test_this_worker_drains_only_its_own_broker(settings) -> None:
    """What the fixture set is what the app, the settings and started worker processes use."""
    import os

    from trustfabric.celery import app

    if settings.CELERY_BROKER_URL.startswith("redis://"):
        assert app.conf.broker_url == settings.CELERY_BROKER_URL == os.environ["CELERY_BROKER_URL"]
        assert app.connection_for_write().as_uri().endswith("/" + settings.CELERY_BROKER_URL.rpartition("/")[2])
