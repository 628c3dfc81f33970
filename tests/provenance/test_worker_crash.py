"""Nothing is lost when a worker dies: a real worker on Redis is killed with SIGKILL while a
verification holds its lease; a second worker and the sweep finish every verification,
each exactly once (one verdict, one witnessed entry, one log leaf, one audit event)."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from django.conf import settings as django_settings

from apps.core.models import AuditEvent
from apps.provenance import services
from apps.provenance.models import LogLeaf, Verification, WitnessedEntry
from tests.conftest import demo_query, load_calls_demo, require_service, start_worker, tasks_routed_to, token_client

LEASE = 4


@pytest.fixture
def private_queue(settings):
    require_service(django_settings.CELERY_BROKER_URL.startswith("redis://"), "CELERY_BROKER_URL must point at Redis")
    settings.PCQ_VERIFY_LEASE_SECONDS = LEASE
    settings.PCQ_VERIFY_REQUEUE_AFTER_SECONDS = 600
    queue = f"test-crash-{uuid.uuid4().hex[:8]}"
    with tasks_routed_to(queue):  # the settings route verification to its own queue
        yield queue


def _stop(worker) -> None:
    if worker.poll() is None:
        worker.terminate()
    worker.communicate(timeout=30)


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_loses_no_verification_and_duplicates_none(tenant_a, admin_a, analyst_a, private_queue):
    load_calls_demo(tenant_a, admin_a)
    client = token_client(analyst_a, tenant_a)
    env = {"PCQ_VERIFY_LEASE_SECONDS": str(LEASE), "TF_TEST_REPLAY_DELAY": "3"}
    doomed = start_worker(private_queue, app="tests.provenance.slow_worker", env=env)
    survivor = None
    try:
        runs = [
            client.post("/api/queries/", demo_query(seeds=[seed], hops=2, metric="pagerank"), format="json").json()[
                "id"
            ]
            for seed in ("grp12-0", "com-050", "grp12-1", "com-051")
        ]
        ids = list(Verification.all_tenants.filter(manifest__query_run_id__in=runs).values_list("pk", flat=True))
        assert len(ids) == 4

        # Wait until the slowed worker holds a lease mid-verification, then kill -9 it.
        deadline = time.monotonic() + 60
        leased = None
        while time.monotonic() < deadline and leased is None:
            leased = Verification.all_tenants.filter(
                pk__in=ids, claimed_at__isnull=False, finished_at__isnull=True
            ).first()
            time.sleep(0.05)
        assert leased is not None, doomed.communicate(timeout=5)[0] if doomed.poll() is not None else "no lease"
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        leased.refresh_from_db()
        assert leased.finished_at is None and leased.status == "pending"  # killed mid-verification

        # Its message stays unacknowledged in Redis (until the visibility timeout); the
        # sweep re-queues it once the lease expires, and a healthy worker finishes it.
        survivor = start_worker(private_queue, env={"PCQ_VERIFY_LEASE_SECONDS": str(LEASE)})
        deadline = time.monotonic() + 120
        requeued: set[int] = set()
        while time.monotonic() < deadline:
            requeued.update(services.verification_sweep())
            if not Verification.all_tenants.filter(pk__in=ids, finished_at__isnull=True).exists():
                break
            time.sleep(0.5)
        # A few more sweeps and messages must not produce duplicates either.
        for _ in range(3):
            services.verification_sweep()
        time.sleep(1.5)
    finally:
        _stop(doomed)
        if survivor is not None:
            _stop(survivor)

    finished = list(Verification.all_tenants.filter(pk__in=ids))
    assert [v.status for v in finished] == ["match"] * 4, [(v.pk, v.status, v.message) for v in finished]
    assert leased.pk in requeued
    assert Verification.all_tenants.get(pk=leased.pk).attempts == 2
    assert WitnessedEntry.all_tenants.filter(verification_id__in=ids).count() == 4
    assert LogLeaf.objects.count() == 4
    for pk in ids:
        events = AuditEvent.all_tenants.filter(target_type="provenance.verification", target_id=str(pk))
        assert events.filter(action="pcq.verified").count() == 1
    assert AuditEvent.all_tenants.filter(tenant=tenant_a, action="pcq.witnessed").count() == 4


def test_the_broker_visibility_timeout_fits_every_task_time_limit() -> None:
    from trustfabric.celery import app

    app.loader.import_default_modules()
    timeout = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    limits = {name: task.time_limit or app.conf.task_time_limit for name, task in app.tasks.items() if "." in name}
    assert limits and all(limit < timeout for limit in limits.values()), (timeout, limits)
    assert app.tasks["provenance.verify"].time_limit < django_settings.PCQ_VERIFY_LEASE_SECONDS
    assert app.conf.beat_schedule["pcq-verification-sweep-every-minute"]["task"] == "provenance.verification_sweep"
