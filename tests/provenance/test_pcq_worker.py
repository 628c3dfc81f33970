"""A query's verification runs in a real Celery worker process, after the query commits."""

from __future__ import annotations

import time

import pytest

from apps.provenance.models import Verification
from tests.conftest import demo_query, load_calls_demo, token_client


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_query_is_verified_witnessed_and_logged_by_the_worker(
    tenant_a, admin_a, analyst_a, celery_worker_queue
) -> None:
    load_calls_demo(tenant_a, admin_a)
    client = token_client(analyst_a, tenant_a)
    run = client.post("/api/queries/", demo_query(seeds=["grp12-0"], hops=2, metric="pagerank"), format="json").json()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        v = Verification.all_tenants.filter(manifest__query_run_id=run["id"]).first()
        if v is not None and v.finished_at is not None:
            break
        time.sleep(0.3)
    assert v is not None and v.status == "match", v and v.message
    assert v.entry.leaf_index >= 0 and v.verifier_result["mode"] == "sim"
