"""A real Celery worker process, against the real broker, runs a real task."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.core.models import AuditChainCheck
from apps.core.tasks import audit_chain_verify
from tests.conftest import require_service
from tests.factories import audit_event_in

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_worker_process_verifies_a_tenants_audit_chain(tenant_a) -> None:
    broker = settings.CELERY_BROKER_URL
    require_service(broker.startswith("redis://"), "CELERY_BROKER_URL must point at Redis for the worker test")
    for i in range(3):
        audit_event_in(tenant_a, "test.worker", payload={"i": i})
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": broker}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "trustfabric", "worker", "--pool=solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        result = audit_chain_verify.apply_async(args=[tenant_a.pk], queue=queue)
        outcome = result.get(timeout=90)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert outcome["ok"] is True and outcome["events_checked"] == 3, output
    check = AuditChainCheck.all_tenants.get(pk=outcome["check_id"])
    assert check.tenant_id == tenant_a.pk and check.ok
