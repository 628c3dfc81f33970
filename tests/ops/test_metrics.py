"""/metrics: what a Prometheus operator scrapes, under real gunicorn in multiprocess mode."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.test import RequestFactory, override_settings
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from apps.core import fairness, metrics
from tests.conftest import ROOT, _database_url, scan_logs_for
from tests.factories import api_token_for


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for fam in text_string_to_metric_families(text) for s in fam.samples]


def _value(samples: list, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _gunicorn(tmp_path: Path, **extra: str) -> Any:
    port = _free_port()
    env = {
        **os.environ,
        **extra,
        "DATABASE_URL": _database_url(),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "GUNICORN_WORKERS": "2",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "TF_API_TENANT_RATE": "3/min",
    }
    # The quota is counted in the cache: the workers must share one (Redis in CI, else files).
    env.setdefault("CACHE_URL", f"filecache://{tmp_path / 'cache'}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "ops/gunicorn.conf.py", "trustfabric.wsgi"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if _get(url + "/readyz")[0] in (200, 400, 503):  # not /healthz: the test counts those
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start")
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture
def gunicorn_url(transactional_db: Any, tmp_path: Path) -> Any:
    yield from _gunicorn(tmp_path)


def test_compose_web_healthcheck_passes_where_a_bare_loopback_request_is_refused(db: Any, tmp_path: Path) -> None:
    """ALLOWED_HOSTS names only the public host (as in production): asking 127.0.0.1 is a
    400, the compose healthcheck sends the allowed host and sees the process healthy."""
    import subprocess as sp

    gen = _gunicorn(tmp_path, ALLOWED_HOSTS="trustfabric.example.org,.example.org")
    url = next(gen)
    try:
        assert _get(url + "/healthz")[0] == 400
        env = {**os.environ, "ALLOWED_HOSTS": "trustfabric.example.org", "PORT": url.rsplit(":", 1)[1]}
        res = sp.run([sys.executable, "ops/healthcheck.py", "web"], cwd=ROOT, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
        env["PORT"] = str(_free_port())  # nothing listens there
        res = sp.run([sys.executable, "ops/healthcheck.py", "web"], cwd=ROOT, env=env, capture_output=True, text=True)
        assert res.returncode == 1
    finally:
        gen.close()


def test_gunicorn_workers_are_merged_per_route_and_tenant_with_bounded_labels(
    gunicorn_url: str, admin_a: Any, tenant_a: Any, admin_b: Any, tenant_b: Any
) -> None:
    _, token_a = api_token_for(admin_a, tenant_a)
    _, token_b = api_token_for(admin_b, tenant_b)
    scan_logs_for(token_a, token_b)
    for _ in range(12):
        assert _get(gunicorn_url + "/healthz")[0] == 200
    # Tenant A exceeds its quota (3/min); tenant B makes one call.
    statuses = [_get(gunicorn_url + "/api/me/", {"Authorization": f"Bearer {token_a}"})[0] for _ in range(5)]
    assert statuses.count(429) == 2
    assert _get(gunicorn_url + "/api/me/", {"Authorization": f"Bearer {token_b}"})[0] == 200
    # A raw path with a secret in it must not become a label value.
    assert _get(gunicorn_url + "/no-such-page/secret-abc123xyz")[0] == 404

    status, body = _get(gunicorn_url + "/metrics")
    assert status == 200
    s = _samples(body)
    # Twelve requests spread over two workers, each counted once in one scrape.
    assert _value(s, "tf_http_requests_total", route="healthz", status="2xx") == 12
    a, b = str(tenant_a.pk), str(tenant_b.pk)
    assert _value(s, "tf_http_requests_total", route="api/me/", tenant=a, status="2xx") == 3
    assert _value(s, "tf_http_requests_total", route="api/me/", tenant=a, status="4xx") == 2
    assert _value(s, "tf_quota_rejections_total", tenant=a) == 2
    assert _value(s, "tf_quota_rejections_total", tenant=b) == 0
    assert _value(s, "tf_tenant_api_demand_total", tenant=a) == 3  # the 429s are not entitled demand
    assert _value(s, "tf_tenant_api_served_total", tenant=b) == 1
    assert _value(s, "tf_http_request_duration_seconds_count", route="api/me/", tenant=b) == 1
    assert _value(s, "tf_http_requests_total", route="<unmatched>") == 1
    assert "secret-abc123xyz" not in body
    assert "no-such-page" not in body
    names = {n for n, _, _ in s}
    assert "tf_celery_queue_depth" in names or not os.environ.get("CELERY_BROKER_URL")


def test_metrics_refuses_non_loopback_and_wrong_tokens(db: Any) -> None:
    rf = RequestFactory()
    assert metrics.metrics_view(rf.get("/metrics", REMOTE_ADDR="127.0.0.1")).status_code == 200
    assert metrics.metrics_view(rf.get("/metrics", REMOTE_ADDR="192.0.2.7")).status_code == 404
    with override_settings(TF_METRICS_TOKEN="s3cret-scrape"):
        assert metrics.metrics_view(rf.get("/metrics", REMOTE_ADDR="127.0.0.1")).status_code == 404
        bad = rf.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer s3cret-scrapX")
        assert metrics.metrics_view(bad).status_code == 404
        ok = rf.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer s3cret-scrape")
        assert metrics.metrics_view(ok).status_code == 200


def test_tenant_labels_stop_growing_at_the_configured_bound(settings: Any) -> None:
    settings.TF_METRICS_MAX_TENANTS = 3
    metrics._tenants_seen.clear()
    labels = {metrics.tenant_label(i) for i in range(1000, 1050)}
    assert labels == {"1000", "1001", "1002", "other"}
    metrics._tenants_seen.clear()


def test_fairness_gini_over_the_window_sees_a_flooding_tenant(db: Any, settings: Any, monkeypatch: Any) -> None:
    """Between two scrapes a window apart, one tenant was served 10% of its demand while
    the others were served fully: the exported Gini is what fairness.gini says."""
    settings.TF_FAIRNESS_WINDOW_SECONDS = 60
    clock = [1_000_000.0]
    monkeypatch.setattr(metrics.time, "time", lambda: clock[0])
    base = metrics._samples_registry()

    def gini_now() -> float | None:
        fam = {f.name: f for f in metrics.FairnessCollector(base).collect()}["tf_fairness_gini"]
        return fam.samples[0].value if fam.samples else None

    gini_now()
    for tenant, demand, served in (("901", 100, 10), ("902", 20, 20), ("903", 20, 20)):
        metrics.TENANT_DEMAND.labels(tenant).inc(demand)
        metrics.TENANT_SERVED.labels(tenant).inc(served)
    clock[0] += 61
    assert gini_now() == pytest.approx(fairness.gini([0.1, 1.0, 1.0]))
    assert gini_now() == pytest.approx(fairness.gini([0.1, 1.0, 1.0]))  # still the same window


def test_gini_known_values() -> None:
    assert fairness.gini([1, 1, 1, 1]) == 0
    assert fairness.gini([0, 0, 0, 1]) == pytest.approx(0.75)
    assert fairness.gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert fairness.gini([5]) == 0


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=2, max_size=30))
def test_gini_matches_the_pairwise_definition(xs: list[float]) -> None:
    n, total = len(xs), sum(xs)
    expected = 0.0 if total == 0 else sum(abs(a - b) for a in xs for b in xs) / (2 * n * total)
    assert fairness.gini(xs) == pytest.approx(expected, abs=1e-9)
    assert 0 <= fairness.gini(xs) <= 1 - 1 / n + 1e-9


def test_policy_drift_is_exported_when_prod_runs_what_the_registry_does_not_list(
    db: Any, settings: Any, tmp_path: Path, tenant_a: Any, admin_a: Any
) -> None:
    from apps.core.tenancy import tenant_context
    from apps.policy_studio.models import Policy, PolicyVersion

    with tenant_context(tenant_a):
        policy = Policy.objects.create(slug="investigations", name="Investigations", created_by=admin_a)
        common = {"policy": policy, "source_hash": "0" * 64, "mode": "enforce", "created_by": admin_a}
        v1 = PolicyVersion.objects.create(number=1, source="x", **common)
        v2 = PolicyVersion.objects.create(number=2, source="y", **common)
        Policy.objects.filter(pk=policy.pk).update(active_version=v1)
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({tenant_a.slug: {"investigations": 1}}))
    settings.TF_POLICY_REGISTRY_FILE = str(registry)
    metrics._tenants_seen.clear()

    def drift() -> float:
        body = metrics.metrics_view(RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1")).content.decode()
        return _value(_samples(body), "tf_policy_drift", tenant=str(tenant_a.pk))

    assert drift() == 0
    Policy.all_tenants.filter(pk=policy.pk).update(active_version=v2)  # a hotfix straight in prod
    assert drift() == 1
