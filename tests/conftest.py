"""Shared fixtures: a fixed cast of two tenants and their members, API clients that
authenticate with real tokens, and helpers for tests that need real services."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from apps.core.models import Role
from tests.factories import MembershipFactory, TenantFactory, UserFactory, api_token_for


def require_service(available: bool, reason: str) -> None:
    """Skip when a real service is missing locally; in CI (TF_REQUIRE_SERVICES=1) fail,
    so a missing install step can never turn into a green run of nothing."""
    if available:
        return
    if os.environ.get("TF_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _celery_eager(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run inline unless a test asks for the real worker."""
    from trustfabric.celery import app

    if request.node.get_closest_marker("real_worker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def _own_redis_databases(worker: int, cache_url: str, broker_url: str) -> tuple[str, str]:
    """The cache and broker URLs of xdist worker ``worker``. Worker 0 keeps the configured
    ones; worker ``w`` takes the pair ``top + 2w - 1`` and ``top + 2w`` above the highest
    configured database, so no two workers share one, a worker xdist starts to replace a
    crashed one (a higher index) included."""
    cache_base, _, cache_db = cache_url.rpartition("/")
    broker_base, _, broker_db = broker_url.rpartition("/")
    if worker == 0:
        return cache_url, broker_url
    redis_broker = broker_url.startswith("redis://")
    top = max(int(cache_db or 0), int(broker_db or 0) if redis_broker else 0)
    cache, broker = top + 2 * worker - 1, top + 2 * worker
    if broker > 15:
        raise pytest.UsageError(f"xdist worker {worker} would need Redis database {broker} (there are 16)")
    return f"{cache_base}/{cache}", (f"{broker_base}/{broker}" if redis_broker else broker_url)


@pytest.fixture(scope="session", autouse=True)
def _redis_per_xdist_worker() -> Iterator[None]:
    """Under pytest-xdist each worker gets its own Redis databases, for itself and for the
    worker processes its tests start. Every test clears the cache, and on Redis a clear is a
    FLUSHDB of its database: shared, one worker's clear would wipe a replay marker or a readiness
    probe's key in the middle of another's test. The broker holds the queues, the ZK fair
    scheduler's ring and leases and the queue depth back-pressure reads: shared, one worker's
    drain would take another's jobs (xdist's loadgroup cannot keep such tests together: with
    pytest 9.2 its group suffix no longer reaches the node id)."""
    from django.test.utils import override_settings

    from trustfabric.celery import app
    from trustfabric.settings import cache_config

    worker = os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
    cache_url, broker_url = os.environ.get("CACHE_URL", ""), settings.CELERY_BROKER_URL
    if not worker.isdigit() or not cache_url.startswith("redis://"):
        yield
        return
    cache, broker = _own_redis_databases(int(worker), cache_url, broker_url)
    saved = {k: os.environ.get(k) for k in ("CACHE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    os.environ["CACHE_URL"] = cache
    changed: dict[str, Any] = {"CACHES": {"default": cache_config(cache)}}
    if broker != broker_url:
        os.environ["CELERY_BROKER_URL"] = broker
        changed["CELERY_BROKER_URL"] = broker
        if broker_url == settings.CELERY_RESULT_BACKEND:
            os.environ["CELERY_RESULT_BACKEND"] = changed["CELERY_RESULT_BACKEND"] = broker
        app.conf.broker_url = broker
        app.conf.result_backend = changed.get("CELERY_RESULT_BACKEND", settings.CELERY_RESULT_BACKEND)
        # Connections made before now (none, normally) would still point at the shared database.
        app._pool = None
        app.amqp._producer_pool = None
        app._local.__dict__.pop("backend", None)
    with override_settings(**changed):
        yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    from django.core.cache import cache

    from apps.core.api import authentication
    from apps.zk_proofs import quotas, verification

    cache.clear()
    quotas.forget_process_caches()  # tenant ids repeat across tests on SQLite
    authentication.forget_cached_tokens()
    verification.forget_issued_digests()
    yield
    cache.clear()


@pytest.fixture
def tenant_a(db: Any) -> Any:
    return TenantFactory(slug="agency-a", name="Agency A")


@pytest.fixture
def tenant_b(db: Any) -> Any:
    return TenantFactory(slug="agency-b", name="Agency B")


def member(tenant: Any, username: str, *roles: str) -> Any:
    user = UserFactory(username=username)
    for role in roles or (Role.ANALYST,):
        MembershipFactory(tenant=tenant, user=user, role=role)
    return user


ALL_ROLES = tuple(Role.values)


@pytest.fixture
def admin_a(tenant_a: Any) -> Any:
    return member(tenant_a, "admin-a", *ALL_ROLES)


@pytest.fixture
def admin_b(tenant_b: Any) -> Any:
    return member(tenant_b, "admin-b", *ALL_ROLES)


@pytest.fixture
def analyst_a(tenant_a: Any) -> Any:
    return member(tenant_a, "analyst-a", Role.ANALYST)


@pytest.fixture
def auditor_a(tenant_a: Any) -> Any:
    return member(tenant_a, "auditor-a", Role.AUDITOR)


def token_client(user: Any, tenant: Any) -> APIClient:
    _, plaintext = api_token_for(user, tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    client.token_plaintext = plaintext  # type: ignore[attr-defined]
    scan_logs_for(plaintext)
    return client


@pytest.fixture
def api_a(admin_a: Any, tenant_a: Any) -> APIClient:
    return token_client(admin_a, tenant_a)


@pytest.fixture
def api_b(admin_b: Any, tenant_b: Any) -> APIClient:
    return token_client(admin_b, tenant_b)


# --- Every log line the suite writes is scanned for the secrets it handled ------------------

LOG_CAPTURE = None
SCANNED_SECRETS: set[str] = set()


def scan_logs_for(*secrets: str) -> None:
    """Register values that must never appear in any log line of this test run."""
    SCANNED_SECRETS.update(s for s in secrets if s)


def pytest_configure(config: pytest.Config) -> None:
    global LOG_CAPTURE
    import logging

    from apps.core.logging import RedactSecretsFilter, build_formatter

    path = ROOT / "var" / f"test-logs-{os.getpid()}.jsonl"
    path.parent.mkdir(exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(build_formatter("json"))
    handler.addFilter(RedactSecretsFilter())
    logging.getLogger().addHandler(handler)
    LOG_CAPTURE = path


WORKER_SCANS: list[dict[str, Any]] = []


def _scan_own_log() -> dict[str, Any] | None:
    if LOG_CAPTURE is None or not LOG_CAPTURE.exists():
        return None
    text = LOG_CAPTURE.read_text(encoding="utf-8")
    leaked = sorted(s[:6] + "…" for s in SCANNED_SECRETS if s in text)
    return {"leaked": leaked, "secrets": len(SCANNED_SECRETS), "lines": text.count("\n"), "path": str(LOG_CAPTURE)}


def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: each worker scans its own log and hands the result to the controller."""
    scan = getattr(node, "workeroutput", {}).get("log_scan")
    if scan:
        WORKER_SCANS.append(scan)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    scan = _scan_own_log()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        if scan:
            workeroutput["log_scan"] = scan
        return
    scans = [*WORKER_SCANS, *([scan] if scan else [])]
    if not scans:
        return
    leaked = sorted({s for sc in scans for s in sc["leaked"]})
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if leaked:
        session.exitstatus = 1
        if reporter:
            paths = ", ".join(sc["path"] for sc in scans if sc["leaked"])
            reporter.write_line(f"SECRET LEAK: {len(leaked)} secret(s) found in logs {paths}: {leaked}", red=True)
    elif reporter:
        secrets = sum(sc["secrets"] for sc in scans)
        lines = sum(sc["lines"] for sc in scans)
        reporter.write_line(
            f"log scan: {secrets} secrets checked against {lines} log lines in {len(scans)} process(es), none found"
        )


# --- LAC: a tenant with the demo graph, a view and the investigations policy -------------

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
POLICY_SOURCE = (FIXTURES / "policies" / "investigations.yaml").read_text()


def load_calls_demo(tenant: Any, actor: Any, *, policy: str | None = POLICY_SOURCE, mode: str | None = None) -> None:
    from apps.core.tenancy import tenant_context
    from apps.policy_studio.services import policy_save_version
    from apps.queries.demo import install_calls_demo

    with tenant_context(tenant):
        install_calls_demo(actor)
        if policy is not None:
            source = policy.replace("mode: enforce", f"mode: {mode}") if mode else policy
            policy_save_version(actor=actor, slug="investigations", source=source, activate=True)


@pytest.fixture
def lac_a(tenant_a: Any, admin_a: Any) -> Any:
    """Tenant A with calls-demo, two views and the investigations policy in force."""
    load_calls_demo(tenant_a, admin_a)
    return tenant_a


@pytest.fixture
def analyst_api_a(lac_a: Any, analyst_a: Any) -> APIClient:
    return token_client(analyst_a, lac_a)


def demo_query(**overrides: Any) -> dict[str, Any]:
    return {"dataset": "calls-demo", "purpose": "investigation", "reason": "case 2026-118", **overrides}


# --- A real Celery worker process ----------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _reset_celery_router(app: Any) -> None:
    """Celery builds its router once; after changing the routes, make it build a new one."""
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)


@pytest.fixture
def celery_worker_queue():
    """A real worker process on a private queue; tasks sent from the test go there."""

    broker = settings.CELERY_BROKER_URL
    require_service(broker.startswith("redis://"), "CELERY_BROKER_URL must point at Redis for the worker test")
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": broker}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "trustfabric", "worker", "--pool=solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        with tasks_routed_to(queue):
            yield queue
    finally:
        worker.terminate()
        worker.communicate(timeout=30)


@contextmanager
def tasks_routed_to(queue: str) -> Iterator[None]:
    """Every task the test sends goes to ``queue`` (its private worker), whatever queue the
    settings route it to."""
    from trustfabric.celery import app

    previous = app.conf.task_default_queue, app.conf.task_routes
    app.conf.task_default_queue, app.conf.task_routes = queue, {"*": {"queue": queue}}
    _reset_celery_router(app)
    try:
        yield
    finally:
        app.conf.task_default_queue, app.conf.task_routes = previous
        _reset_celery_router(app)


def tamper(sql: str, params: list, table: str, trigger: str | None = None) -> None:
    """Change append-only rows the way someone with table-owner rights could: on PostgreSQL the
    refusing trigger is disabled around the statement (deferred FK checks flushed first)."""
    trigger = trigger or f"{table}_append_only"
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        cur.execute(sql, params)
        if connection.vendor == "postgresql":
            cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def start_worker(queue: str, *, app: str = "trustfabric", env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a real worker process (solo pool) on ``queue``; the caller stops it."""
    full_env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "--pool=solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env={**full_env, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
