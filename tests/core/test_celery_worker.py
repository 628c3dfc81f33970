"""A real Celery worker process, against the real broker, runs a real task."""

from __future__ import annotations

import pytest

from apps.core.models import AuditChainCheck
from apps.core.tasks import audit_chain_verify
from tests.factories import audit_event_in


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_worker_process_verifies_a_tenants_audit_chain(tenant_a, celery_worker_queue) -> None:
    for i in range(3):
        audit_event_in(tenant_a, "test.worker", payload={"i": i})
    result = audit_chain_verify.apply_async(args=[tenant_a.pk], queue=celery_worker_queue)
    outcome = result.get(timeout=90)
    assert outcome["ok"] is True and outcome["events_checked"] == 3
    check = AuditChainCheck.all_tenants.get(pk=outcome["check_id"])
    assert check.tenant_id == tenant_a.pk and check.ok
