"""Compose healthchecks for the worker and beat (the web one is in test_metrics.py)."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "ops"))
import healthcheck


@pytest.mark.parametrize(
    ("allowed", "host"),
    [("trustfabric.example.org", "trustfabric.example.org"), (".example.org,x", "example.org"), ("*", "localhost")],
)
def test_web_check_asks_for_a_host_allowed_hosts_accepts(monkeypatch: Any, allowed: str, host: str) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", allowed)
    assert healthcheck.allowed_host() == host


def test_beat_is_healthy_only_while_it_keeps_sending_its_minute_task(db: Any) -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    assert healthcheck.check_beat() is False  # never ran
    every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(
        name=healthcheck.BEAT_TASK, task="jit.sweep_all", interval=every, last_run_at=timezone.now()
    )
    assert healthcheck.check_beat() is True
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(minutes=10))
    assert healthcheck.check_beat() is False  # beat stopped sending


@pytest.mark.real_worker
def test_worker_check_pings_the_running_worker(celery_worker_queue: str) -> None:
    import socket
    import time

    destination = f"celery@{socket.gethostname()}"
    for _ in range(20):  # the worker needs a moment to start
        if healthcheck.check_worker(destination):
            break
        time.sleep(1)
    else:
        pytest.fail("the running worker did not answer the healthcheck ping")
    assert healthcheck.check_worker("celery@no-such-worker") is False
