"""ZK-TX quotas on the real Redis cache: 429 with Retry-After and the quota's name, buckets
refilled by the (test) clock, pair budgets shared by both tenants, audited once a minute."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.zk_proofs import quotas
from apps.zk_proofs.models import PilotSettings
from tests.conftest import require_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    require_service("redis" in settings.CACHES["default"]["BACKEND"].lower(), "CACHE_URL must point at Redis")
    now = [1_900_000_000.0]
    monkeypatch.setattr(quotas, "clock", lambda: now[0])
    quotas._settings_cache.clear()
    return now


def _set(tenant: Any, **values: Any) -> None:
    with tenant_context(tenant):
        PilotSettings.objects.update(**values)
    quotas._settings_cache.clear()


def test_request_rate_exhausted_is_429_with_retry_after_and_the_quota_name(zk_pair, redis_clock) -> None:
    _set(zk_pair["ta"], requests_per_second=2, requests_burst=3)
    api = zk_pair["api_a"]
    assert [api.get("/api/zk/sessions/").status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get("/api/zk/sessions/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    assert refused.json()["details"]["quota"] == "tenant.requests_per_second"
    assert refused["Retry-After"] == "1"
    assert zk_pair["api_b"].get("/api/zk/sessions/").status_code == 200  # the other tenant's budget is its own
    redis_clock[0] += 1.0  # two tokens back
    assert [api.get("/api/zk/sessions/").status_code for _ in range(3)] == [200, 200, 429]


def test_pair_sessions_per_day_refills_continuously(zk_pair, redis_clock) -> None:
    _set(zk_pair["ta"], sessions_per_pair_per_day=2)
    body = {"partner": zk_pair["tb"].slug, "k": 10, "selector_type": "phone"}
    api = zk_pair["api_a"]
    assert [api.post("/api/zk/sessions/", body, format="json").status_code for _ in range(2)] == [201, 201]
    refused = api.post("/api/zk/sessions/", body, format="json")
    assert refused.status_code == 429
    assert refused.json()["details"]["quota"] == "pair.sessions_per_day"
    assert int(refused["Retry-After"]) == 43_200  # half a day for one of two tokens
    # The pair's budget is shared: B proposing to A is refused too.
    back = zk_pair["api_b"].post("/api/zk/sessions/", {**body, "partner": zk_pair["ta"].slug}, format="json")
    assert back.json()["details"]["quota"] == "pair.sessions_per_day"
    redis_clock[0] += 43_200
    assert api.post("/api/zk/sessions/", body, format="json").status_code == 201


def test_proofs_per_day_counts_bundles_checked_at_l1_not_l0(zk_pair, redis_clock) -> None:
    _set(zk_pair["ta"], proofs_per_day=3)
    api = zk_pair["api_a"]
    bundles = {"bundles": [{"header": {}, "server_signature": ""}] * 2}
    assert api.post("/api/zk/verify/", {**bundles, "level": "L1"}, format="json").status_code == 200
    refused = api.post("/api/zk/verify/", {**bundles, "level": "L1"}, format="json")
    assert refused.status_code == 429
    assert refused.json()["details"]["quota"] == "tenant.proofs_per_day"
    assert api.post("/api/zk/verify/", {**bundles, "level": "L0"}, format="json").status_code == 200


def test_refusals_are_audited_once_a_minute_without_the_body(zk_pair, redis_clock) -> None:
    _set(zk_pair["ta"], requests_per_second=1, requests_burst=1)
    api = zk_pair["api_a"]
    codes = [api.get("/api/zk/sessions/").status_code for _ in range(5)]
    assert codes == [200, 429, 429, 429, 429]
    with tenant_context(zk_pair["ta"]):
        events = list(AuditEvent.objects.filter(action="zk.quota_exceeded"))
    assert len(events) == 1
    assert events[0].payload == {"quota": "tenant.requests_per_second", "retry_after_seconds": 1}


def test_a_non_party_cannot_spend_a_pairs_budget(zk_pair, redis_clock, tenant_a) -> None:
    from tests.conftest import member, token_client
    from tests.factories import TenantFactory
    from tests.zk.conftest import pilot

    _set(zk_pair["ta"], pair_requests_per_second=1)
    _set(zk_pair["tb"], pair_requests_per_second=1)
    made = zk_pair["api_a"].post(
        "/api/zk/sessions/", {"partner": zk_pair["tb"].slug, "k": 10, "selector_type": "phone"}, format="json"
    )
    sid = made.json()["session"]
    third = TenantFactory(slug="agency-c")
    outsider = member(third, "partner-c", "partner")
    pilot(third, tenant_a.slug, outsider)
    api_c = token_client(outsider, third)
    assert [api_c.get(f"/api/zk/sessions/{sid}/").status_code for _ in range(3)] == [404, 404, 404]
    # The pair's burst is 2 (twice its rate): B's poll and A's use it up, whatever C did.
    assert zk_pair["api_b"].get(f"/api/zk/sessions/{sid}/").status_code == 200
    assert zk_pair["api_a"].get(f"/api/zk/sessions/{sid}/").status_code == 200
    refused = zk_pair["api_a"].get(f"/api/zk/sessions/{sid}/")
    assert refused.status_code == 429
    assert refused.json()["details"]["quota"] == "pair.requests_per_second"


def test_a_pilot_request_rate_replaces_the_tenant_budget_on_zk_routes_only(zk_pair, redis_clock, settings) -> None:
    """With a pilot request rate, ZK-TX requests are shaped by its bucket, not by the coarser
    tenant API budget (which still counts the tenant's other API requests); a pilot without a
    request rate leaves the tenant budget on ZK-TX routes too."""
    settings.TF_API_TENANT_RATE = "3/min"
    _set(zk_pair["ta"], requests_per_second=100, requests_burst=100)
    api = zk_pair["api_a"]
    assert {api.get("/api/zk/sessions/").status_code for _ in range(6)} == {200}
    assert [api.get("/api/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    # a method no limited handler answers (OPTIONS, a 405) stays on the tenant budget, now spent
    assert api.options("/api/zk/trust/").json()["code"] == "throttled"
    assert api.put("/api/zk/trust/", {}, format="json").json()["code"] == "throttled"
    _set(zk_pair["tb"], requests_per_second=0)
    other = zk_pair["api_b"]
    assert [other.get("/api/zk/sessions/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert other.get("/api/zk/sessions/").json()["code"] == "throttled"


def test_a_body_that_is_refused_still_pays_its_request(zk_pair, redis_clock, settings) -> None:
    """The verify and round-2 handlers count proofs in the body before taking from the
    buckets; a body that does not parse is refused (400) after paying its request token, so
    bad bodies cannot bypass the request rate."""
    _set(zk_pair["ta"], requests_per_second=2, requests_burst=2)
    api = zk_pair["api_a"]
    bad = [b'{"bundles": [', b'{"bundles": [], "level": "L\\u0000"}']
    statuses = [
        api.generic("POST", "/api/zk/verify/", bad[i % 2], content_type="application/json").status_code
        for i in range(3)
    ]
    assert statuses == [400, 400, 429]
    assert api.get("/api/zk/trust/").status_code == 429
