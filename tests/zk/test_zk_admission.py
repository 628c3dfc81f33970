"""Back-pressure and the circuit breaker on real Redis: new sessions and round-2 uploads are
refused (503 breaker_open / 429 backpressure, with Retry-After) while L0 checks keep serving;
the breaker half-opens after its cooldown, lets one probe through and closes on a success."""

from __future__ import annotations

import pytest
from django.conf import settings

from apps.zk_proofs import admission, quotas
from tests.conftest import require_service

pytestmark = pytest.mark.django_db

L0 = {"bundles": [{"header": {}, "server_signature": ""}], "level": "L0"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    require_service("redis" in settings.CACHES["default"]["BACKEND"].lower(), "CACHE_URL must point at Redis")
    now = [1_900_000_000.0]
    monkeypatch.setattr(quotas, "clock", lambda: now[0])
    return now


def _propose(zk_pair):
    body = {"partner": zk_pair["tb"].slug, "k": 10, "selector_type": "phone"}
    return zk_pair["api_a"].post("/api/zk/sessions/", body, format="json")


def test_breaker_opens_on_worker_failures_and_closes_after_a_probe(zk_pair, clock, client) -> None:
    for _ in range(settings.ZK_BREAKER_FAILURES - 1):
        admission.record_failure()
    assert _propose(zk_pair).status_code == 201  # below the threshold: closed
    admission.record_failure()
    refused = _propose(zk_pair)
    assert refused.status_code == 503
    assert refused.json()["code"] == "breaker_open"
    assert int(refused["Retry-After"]) == settings.ZK_BREAKER_COOLDOWN_SECONDS
    assert zk_pair["api_a"].post("/api/zk/verify/", L0, format="json").status_code == 200  # L0 keeps serving
    assert zk_pair["api_a"].get("/api/zk/sessions/").status_code == 200
    assert client.get("/readyz").json()["details"]["zk_admission"]["breaker"] == "open"
    clock[0] += settings.ZK_BREAKER_COOLDOWN_SECONDS
    assert _propose(zk_pair).status_code == 201  # the one probe of the half-open breaker
    assert _propose(zk_pair).status_code == 503
    admission.record_success()
    assert _propose(zk_pair).status_code == 201
    assert client.get("/readyz").json()["details"]["zk_admission"]["breaker"] == "closed"


def test_a_failed_probe_reopens_the_breaker(zk_pair, clock) -> None:
    for _ in range(settings.ZK_BREAKER_FAILURES):
        admission.record_failure()
    clock[0] += settings.ZK_BREAKER_COOLDOWN_SECONDS
    assert _propose(zk_pair).status_code == 201
    admission.record_failure()
    assert _propose(zk_pair).status_code == 503
    clock[0] += settings.ZK_BREAKER_COOLDOWN_SECONDS - 1
    assert _propose(zk_pair).status_code == 503


def test_a_full_verification_queue_is_backpressure_but_l0_serves(zk_pair, clock, settings) -> None:
    import redis

    require_service(settings.CELERY_BROKER_URL.startswith("redis://"), "CELERY_BROKER_URL must point at Redis")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ZK_ADMISSION_MAX_QUEUE = 3
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(admission.QUEUE)
    try:
        assert _propose(zk_pair).status_code == 201
        broker.rpush(admission.QUEUE, *[b"placeholder"] * 3)  # a backlog no worker here drains
        refused = _propose(zk_pair)
        assert refused.status_code == 429
        assert refused.json()["code"] == "backpressure"
        assert refused.json()["details"]["queue_depth"] == 3
        assert refused["Retry-After"] == str(settings.ZK_ADMISSION_RETRY_AFTER_SECONDS)
        assert zk_pair["api_a"].post("/api/zk/verify/", L0, format="json").status_code == 200
    finally:
        broker.delete(admission.QUEUE)
