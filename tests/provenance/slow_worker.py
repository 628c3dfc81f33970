"""The real Celery app, with the replay slowed down (TF_TEST_REPLAY_DELAY seconds) so a test
can kill the worker while a verification holds its lease. Start with
``celery -A tests.provenance.slow_worker worker``."""

from __future__ import annotations

import os
import time

from celery.signals import task_prerun

from trustfabric.celery import app

__all__ = ["app"]


@task_prerun.connect
def _slow_down_the_replay(task=None, **kwargs) -> None:
    from apps.provenance import services

    if getattr(services.verify_manifest, "_slowed", False):
        return
    original, delay = services.verify_manifest, float(os.environ.get("TF_TEST_REPLAY_DELAY", "3"))

    def slowed(*args, **kw):
        time.sleep(delay)  # the lease is held, nothing is written yet
        return original(*args, **kw)

    slowed._slowed = True  # type: ignore[attr-defined]
    services.verify_manifest = slowed
