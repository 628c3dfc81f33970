"""Domain metrics fed without touching the other apps: PCQ verdicts from a real query, JIT
time-to-decision from the row, and the Celery worker's own /metrics with task latency."""

from __future__ import annotations

import os
import time
import urllib.request
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.core import metrics
from tests.conftest import demo_query


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_verified_query_counts_a_pcq_verdict_and_its_duration(analyst_api_a: Any, lac_a: Any) -> None:
    from apps.core.tenancy import tenant_context
    from apps.provenance import services
    from apps.provenance.models import Verification

    before = _sample("tf_pcq_verdicts_total", verdict="match")
    timed = _sample("tf_pcq_verification_duration_seconds_count", verdict="match")
    response = analyst_api_a.post("/api/queries/", demo_query(seeds=["grp20-1"], metric="neighbourhood"), format="json")
    assert response.status_code == 201, response.content
    with tenant_context(lac_a):  # the worker's step (on_commit does not run inside a test transaction)
        v = Verification.objects.get(manifest__query_run_id=response.json()["id"])
        assert services.verification_run(v.pk).status == "match"
    assert _sample("tf_pcq_verdicts_total", verdict="match") == before + 1
    assert _sample("tf_pcq_verification_duration_seconds_count", verdict="match") == timed + 1


def test_jit_time_to_decision_is_observed_once_per_decision() -> None:
    created = timezone.now() - timedelta(seconds=90)
    row = SimpleNamespace(created_at=created, decided_at=created + timedelta(seconds=75), status="approved")
    before = _sample("tf_jit_time_to_decision_seconds_count", outcome="approved")
    total = _sample("tf_jit_time_to_decision_seconds_sum", outcome="approved")
    metrics._on_access_request_saved(None, row, update_fields={"status", "decided_at"})
    metrics._on_access_request_saved(None, row, update_fields={"reminded_at"})  # not a decision
    metrics._on_access_request_saved(None, SimpleNamespace(created_at=created, decided_at=None, status="pending"))
    assert _sample("tf_jit_time_to_decision_seconds_count", outcome="approved") == before + 1
    assert _sample("tf_jit_time_to_decision_seconds_sum", outcome="approved") == pytest.approx(total + 75)


@pytest.fixture
def worker_metrics_port(monkeypatch: Any) -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TF_WORKER_METRICS_PORT", str(port))
    return port


@pytest.mark.real_worker
def test_the_worker_serves_its_own_metrics_with_task_outcomes_and_queue_wait(
    transactional_db: Any, worker_metrics_port: int, celery_worker_queue: str
) -> None:
    from apps.jit_approvals.tasks import sweep_all

    assert os.environ["TF_WORKER_METRICS_PORT"] == str(worker_metrics_port)
    sweep_all.delay().get(timeout=60)
    body = ""
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{worker_metrics_port}/metrics", timeout=5) as resp:
                body = resp.read().decode()
            if 'task="jit.sweep_all"' in body:
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert 'tf_celery_tasks_total{queue="other",state="success",task="jit.sweep_all"} 1.0' in body
    assert 'tf_celery_task_wait_seconds_count{queue="other"} 1.0' in body
    assert "tf_celery_queue_depth" in body
