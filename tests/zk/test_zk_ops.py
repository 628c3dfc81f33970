"""Worker latency as a back-pressure signal, and the operator page /ops/zk/: operators see
every tenant's queue, refusals and fairness; a tenant admin sees only its own rows."""

from __future__ import annotations

import pytest

from apps.core.models import Role
from apps.zk_proofs import admission, scheduler
from tests.conftest import member, require_service
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _propose(zk_pair):
    body = {"partner": zk_pair["tb"].slug, "k": 10, "selector_type": "phone"}
    return zk_pair["api_a"].post("/api/zk/sessions/", body, format="json")


def _slow_jobs(sched, tenant_id: int, n: int, seconds: float) -> None:
    for i in range(n):
        scheduler.submit(tenant_id, "zk.verify_round2", [tenant_id, 900 + i], cost=4)
    sched["now"][0] += seconds
    for _ in range(n):
        scheduler.ack(scheduler.pop()[0])


def test_slow_workers_refuse_new_sessions_but_l0_serves(zk_pair, sched, settings, client) -> None:
    require_service("redis" in settings.CACHES["default"]["BACKEND"].lower(), "CACHE_URL must point at Redis")
    settings.ZK_ADMISSION_MAX_LATENCY_SECONDS = 30
    assert _propose(zk_pair).status_code == 201
    _slow_jobs(sched, zk_pair["ta"].pk, 6, 45)  # six jobs took 45 s from submission to verified
    refused = _propose(zk_pair)
    assert refused.status_code == 429 and refused["Retry-After"] == "5"
    body = refused.json()
    assert body["code"] == "backpressure" and body["details"]["worker_latency_p95_seconds"] == 45.0
    l0 = {"bundles": [{"header": {}, "server_signature": ""}], "level": "L0"}
    assert zk_pair["api_a"].post("/api/zk/verify/", l0, format="json").status_code == 200
    ready = client.get("/readyz").json()["details"]["zk_admission"]
    assert ready["latency_p95_seconds"] == 45.0 and ready["max_latency_seconds"] == 30
    sched["now"][0] += 61  # the slow minute is over: admitted again
    assert _propose(zk_pair).status_code == 201


def test_the_operator_page_shows_every_tenant_and_an_admin_only_its_own(zk_pair, sched, client) -> None:
    ta, tb = zk_pair["ta"], zk_pair["tb"]
    for i in range(5):
        scheduler.submit(ta.pk, "zk.verify_round2", [ta.pk, i], cost=8)
    for i in range(2):
        scheduler.submit(tb.pk, "zk.verify_round2", [tb.pk, i], cost=8)
    scheduler.ack(scheduler.pop()[0])
    admission.record_refusal(tb.pk, "backpressure")
    admission.record_refusal(tb.pk, "backpressure")

    operator = UserFactory(username="zk-operator", is_superuser=True, is_staff=True)
    client.force_login(operator)
    page = client.get("/ops/zk/").content.decode()
    assert "Agency A" in page and "Agency B" in page
    assert "<code>backpressure</code> 2" in page and "data-gini" in page
    assert 'data-breaker><span class="pill ok">closed' in page

    client.force_login(zk_pair["admin_a"])
    mine = client.get("/ops/zk/")
    assert mine.status_code == 200
    text = mine.content.decode()
    assert 'data-tenant="Agency A"' in text and "Agency B" not in text
    assert "backpressure</code>" not in text  # B's refusals are B's
    assert "data-gini" not in text  # the cross-tenant fairness figure is for operators

    client.force_login(member(ta, "zk-analyst", Role.ANALYST))
    assert client.get("/ops/zk/").status_code == 403


def test_refusals_are_counted_for_the_tenant_refused(zk_pair, sched, settings) -> None:
    settings.ZK_ADMISSION_MAX_LATENCY_SECONDS = 1
    _slow_jobs(sched, zk_pair["tb"].pk, 5, 10)
    assert _propose(zk_pair).status_code == 429
    assert admission.refusals() == {zk_pair["ta"].pk: {"backpressure": 1}}
