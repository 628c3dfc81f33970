"""Prometheus metrics: what the web processes and the Celery worker export, and how.

Every metric Trust Fabric exports is declared here, so docs/slo.md, ops/slo.yaml and the
dashboards have one list to agree with. Under gunicorn the metrics are shared between
workers through prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by
ops/gunicorn.conf.py before anything imports prometheus-client); the worker serves its own
on ``TF_WORKER_METRICS_PORT`` the same way.

Label sets are bounded: ``route`` is the URL pattern (never the raw path), ``method`` one of
the HTTP verbs or ``other``, ``status`` a class (2xx...5xx), ``tenant`` a tenant id for the
first ``TF_METRICS_MAX_TENANTS`` tenants a process sees and ``other`` after that, ``queue``
one of the configured queues, ``task`` a registered task name.

Domain metrics are fed without touching other apps' code: JIT time-to-decision and PCQ
verification from ``post_save`` of their rows, ZK verification time from the Celery task
that verifies round 2, quota rejections from the 429s the tenant throttle answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from . import fairness
from .permissions import PUBLIC

logger = logging.getLogger("trustfabric.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
DECISION_BUCKETS = (1, 5, 15, 30, 60, 120, 240, 600, 1800, 3600, 14400, 86400)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "tf_http_requests", "HTTP requests answered.", ["route", "method", "status", "tenant"]
)  # fmt: skip
HTTP_LATENCY = Histogram(
    "tf_http_request_duration_seconds", "Time to answer an HTTP request.", ["route", "method", "tenant"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
QUOTA_REJECTIONS = Counter("tf_quota_rejections", "API requests refused by the per-tenant quota (429).", ["tenant"])
# Fairness (docs/slo.md): demand is what a tenant was entitled to (API requests within its
# quota; a flood's 429s are the quota working, not unfairness), served is the part of it
# answered well (no 5xx, within TF_FAIRNESS_LATENCY_SECONDS).
TENANT_DEMAND = Counter(
    "tf_tenant_api_demand", "API requests of a tenant within its quota (fairness demand).", ["tenant"]
)
TENANT_SERVED = Counter(
    "tf_tenant_api_served", "API requests within quota answered without 5xx and within the latency bound.", ["tenant"]
)
TASKS = Counter("tf_celery_tasks", "Celery tasks finished, by outcome.", ["queue", "task", "state"])
TASK_RUNTIME = Histogram(
    "tf_celery_task_duration_seconds", "Time a task ran in the worker.", ["queue", "task"], buckets=TASK_BUCKETS
)
TASK_WAIT = Histogram(
    "tf_celery_task_wait_seconds", "Time from publish to the start of the task (queue latency).", ["queue"],
    buckets=TASK_BUCKETS,
)  # fmt: skip
JIT_DECISION = Histogram(
    "tf_jit_time_to_decision_seconds", "JIT request created to approved/denied/expired.", ["outcome"],
    buckets=DECISION_BUCKETS,
)  # fmt: skip
PCQ_VERIFICATION = Histogram(
    "tf_pcq_verification_duration_seconds", "PCQ verification claim to verdict.", ["verdict"], buckets=TASK_BUCKETS
)
PCQ_VERDICTS = Counter("tf_pcq_verdicts", "PCQ verification verdicts.", ["verdict"])
ZK_VERIFICATION = Histogram(
    "tf_zk_verification_duration_seconds", "ZK-TX round-2 verification (all chunk DLEQ proofs).", ["outcome"],
    buckets=TASK_BUCKETS,
)  # fmt: skip
# Named for a later issue to feed (the JIT outbox knows when a message was really sent):
# observe_jit_notification(channel, seconds). Until then the jit-notification-latency SLO
# uses the queue wait of the Celery queue the outbox runs on.
JIT_NOTIFICATION = Histogram(
    "tf_jit_notification_latency_seconds", "JIT request created to Slack/e-mail notification accepted.",
    ["channel"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
# Families produced at scrape time by the collectors below (not in the default registry).
SCRAPE_TIME_METRICS = (
    "tf_celery_queue_depth", "tf_fairness_gini", "tf_fairness_active_tenants",
    "tf_zk_cost_cpu_seconds_per_1k_proofs", "tf_zk_cost_price_per_1k_proofs", "tf_policy_drift",
)  # fmt: skip

# Tasks whose run time is a domain measurement as well.
_ZK_VERIFY_TASKS = frozenset({"zk_proofs.verify_round2"})

_tenants_seen: set[str] = set()
_tenants_lock = threading.Lock()


def tenant_label(tenant_id: Any) -> str:
    """``-`` without a tenant; the id for the first TF_METRICS_MAX_TENANTS tenants this
    process sees; ``other`` after that (a bound on series per process)."""
    if tenant_id in (None, ""):
        return "-"
    label = str(tenant_id)
    with _tenants_lock:
        if label in _tenants_seen:
            return label
        if len(_tenants_seen) < settings.TF_METRICS_MAX_TENANTS:
            _tenants_seen.add(label)
            return label
    return "other"


def observe_jit_notification(channel: str, seconds: float) -> None:
    JIT_NOTIFICATION.labels(channel if channel in ("slack", "email") else "other").observe(max(0.0, seconds))


def status_class(code: int) -> str:
    return f"{code // 100}xx" if 100 <= code < 600 else "other"


def observe_request(*, route: str, method: str, status: int, tenant_id: Any, seconds: float, api: bool) -> None:
    tenant = tenant_label(tenant_id)
    method = method if method in _METHODS else "other"
    HTTP_REQUESTS.labels(route, method, status_class(status), tenant).inc()
    HTTP_LATENCY.labels(route, method, tenant).observe(seconds)
    if api and tenant != "-":
        if status == 429:
            QUOTA_REJECTIONS.labels(tenant).inc()
            return
        TENANT_DEMAND.labels(tenant).inc()
        if status < 500 and seconds <= settings.TF_FAIRNESS_LATENCY_SECONDS:
            TENANT_SERVED.labels(tenant).inc()


class MetricsMiddleware:
    """Counts and times every request by route and tenant. Placed right after
    RequestContextMiddleware so the tenant bound by the web middleware or the API base
    view is still in the log context when the response comes back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        import structlog

        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match else "<unmatched>"
        if route != "metrics":
            observe_request(
                route=route or "/",
                method=request.method or "",
                status=response.status_code,
                tenant_id=structlog.contextvars.get_contextvars().get("tenant_id"),
                seconds=time.perf_counter() - started,
                api=request.path.startswith("/api/"),
            )
        return response


# --- Celery: task outcomes, run time, queue wait --------------------------------------------


def _queue_of(task: Any) -> str:
    info = getattr(task.request, "delivery_info", None) or {}
    queue = info.get("routing_key") or info.get("exchange") or getattr(task.app.conf, "task_default_queue", "celery")
    return queue if queue in queue_names() else "other"


def _on_publish(sender: Any = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers.setdefault("tf_sent_at", time.time())


def _on_prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
    if task is None:
        return
    task.request._tf_started = time.perf_counter()
    sent = task.request.get("tf_sent_at") if hasattr(task.request, "get") else None
    if isinstance(sent, (int, float)):
        TASK_WAIT.labels(_queue_of(task)).observe(max(0.0, time.time() - sent))


def _on_postrun(task_id: str = "", task: Any = None, state: str | None = None, retval: Any = None, **_: Any) -> None:
    if task is None:
        return
    started = getattr(task.request, "_tf_started", None)
    queue, name = _queue_of(task), task.name
    TASKS.labels(queue, name, (state or "UNKNOWN").lower()).inc()
    if started is not None:
        seconds = time.perf_counter() - started
        TASK_RUNTIME.labels(queue, name).observe(seconds)
        if name in _ZK_VERIFY_TASKS:
            outcome = "error" if state != "SUCCESS" else ("verified" if retval else "rejected_or_waiting")
            ZK_VERIFICATION.labels(outcome).observe(seconds)


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    port = int(os.environ.get("TF_WORKER_METRICS_PORT", "0") or 0)
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=os.environ.get("TF_WORKER_METRICS_ADDR", "127.0.0.1"), registry=registry())
        logger.info("worker metrics listening", extra={"port": port})


# --- Domain rows: JIT decisions, PCQ verdicts -----------------------------------------------


def _on_access_request_saved(sender: Any, instance: Any, update_fields: Any = None, **_: Any) -> None:
    if update_fields is not None and "decided_at" not in update_fields:
        return
    decided, created = getattr(instance, "decided_at", None), getattr(instance, "created_at", None)
    if decided is None or created is None or instance.status == "cancelled":
        return
    JIT_DECISION.labels(str(instance.status)).observe(max(0.0, (decided - created).total_seconds()))


def _on_verification_saved(sender: Any, instance: Any, **_: Any) -> None:
    finished, claimed = getattr(instance, "finished_at", None), getattr(instance, "claimed_at", None)
    if finished is None or instance.status == "pending":
        return
    verdict = str(instance.status)
    PCQ_VERDICTS.labels(verdict).inc()
    if claimed is not None:
        PCQ_VERIFICATION.labels(verdict).observe(max(0.0, (finished - claimed).total_seconds()))


_connected = False


def connect() -> None:
    """Connect the Celery and model signal handlers (once; from CoreConfig.ready)."""
    global _connected
    if _connected:
        return
    _connected = True
    if path := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # prometheus-client writes there from the first sample on (prefork children too).
        os.makedirs(path, exist_ok=True)
    from celery import signals as celery_signals
    from django.db.models.signals import post_save

    celery_signals.before_task_publish.connect(_on_publish, weak=False)
    celery_signals.task_prerun.connect(_on_prerun, weak=False)
    celery_signals.task_postrun.connect(_on_postrun, weak=False)
    celery_signals.worker_ready.connect(_on_worker_ready, weak=False)
    post_save.connect(_on_access_request_saved, sender="jit_approvals.AccessRequest", weak=False)
    post_save.connect(_on_verification_saved, sender="provenance.Verification", weak=False)


# --- Scrape-time collectors: queue depth, fairness, cost ------------------------------------


def queue_names() -> list[str]:
    return list(settings.TF_METRICS_QUEUES)


class QueueDepthCollector(Collector):
    """Messages waiting in each Celery queue (Redis list length), read at scrape time."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("tf_celery_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
        broker = settings.CELERY_BROKER_URL
        if broker.startswith("redis://"):
            import redis

            try:
                client = redis.Redis.from_url(broker, socket_timeout=1, socket_connect_timeout=1)
                for queue in queue_names():
                    family.add_metric([queue], float(client.llen(queue)))
            except redis.RedisError as exc:
                logger.warning("queue depth unavailable", extra={"error": type(exc).__name__})
        yield family


FAIRNESS_KEY = "tf:metrics:fairness-snapshots"


def _tenant_counts(reg: CollectorRegistry) -> tuple[dict[str, float], dict[str, float]]:
    demand: dict[str, float] = {}
    served: dict[str, float] = {}
    for family in reg.collect():
        target = {"tf_tenant_api_demand": demand, "tf_tenant_api_served": served}.get(family.name)
        if target is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                tenant = sample.labels.get("tenant", "-")
                target[tenant] = target.get(tenant, 0.0) + sample.value
    return demand, served


class FairnessCollector(Collector):
    """Gini of per-tenant served/demand over the last TF_FAIRNESS_WINDOW_SECONDS.

    Each scrape stores a snapshot of the cumulative counters in the shared cache and
    compares with the newest snapshot at least one window old, so any web process can
    answer and the result does not depend on which one Prometheus reached."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from django.core.cache import cache

        g = GaugeMetricFamily("tf_fairness_gini", "Gini of per-tenant served/demand over the fairness window.")
        active = GaugeMetricFamily("tf_fairness_active_tenants", "Tenants with API demand in the fairness window.")
        window = settings.TF_FAIRNESS_WINDOW_SECONDS
        now = time.time()
        demand, served = _tenant_counts(self.source)
        try:
            snaps = [s for s in (cache.get(FAIRNESS_KEY) or []) if now - s[0] <= 3 * window]
            old = [s for s in snaps if now - s[0] >= window]
            base = old[-1] if old else (snaps[0] if snaps else None)
            snaps.append((now, demand, served))
            cache.set(FAIRNESS_KEY, snaps[-200:], timeout=int(4 * window))
        except Exception as exc:  # noqa: BLE001 - a cache outage must not break the scrape
            logger.warning("fairness snapshots unavailable", extra={"error": type(exc).__name__})
            base = None
        if base is not None:
            value, n = fairness.window_gini((base[1], base[2]), (demand, served))
            g.add_metric([], value)
            active.add_metric([], float(n))
        yield g
        yield active


def cost_report_path() -> Path:
    return Path(settings.VAR_DIR) / "cost-per-1k.json"


class CostCollector(Collector):
    """The last ``make cost`` measurement (var/cost-per-1k.json): CPU-seconds per 1k ZK
    proofs per mode, and their price at TF_PRICE_PER_CPU_HOUR (so a price change needs no
    re-measurement)."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        cpu = GaugeMetricFamily(
            "tf_zk_cost_cpu_seconds_per_1k_proofs",
            "CPU-seconds to verify 1,000 ZK proofs (last make cost).",
            labels=["mode"],
        )
        price = GaugeMetricFamily(
            "tf_zk_cost_price_per_1k_proofs",
            "Price of verifying 1,000 ZK proofs at TF_PRICE_PER_CPU_HOUR.",
            labels=["mode"],
        )
        try:
            modes = json.loads(cost_report_path().read_text())["modes"]
        except (OSError, ValueError, KeyError):
            modes = {}
        for mode, m in modes.items():
            value = float(m["cpu_seconds_per_1k_proofs"])
            cpu.add_metric([mode], value)
            price.add_metric([mode], value / 3600 * settings.TF_PRICE_PER_CPU_HOUR)
        yield cpu
        yield price


_scrape_collectors: list[Callable[[], Collector]] = []


def register_scrape_collector(factory: Callable[[], Collector]) -> None:
    """Apps above core add their scrape-time collectors here (in ``AppConfig.ready``), so core
    never imports them: e.g. policy_studio's ``tf_policy_drift``."""
    if factory not in _scrape_collectors:
        _scrape_collectors.append(factory)


class _DefaultRegistry(Collector):
    """This process's metrics (embedded profile, runserver, a solo worker)."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def _samples_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(reg)
    else:
        reg.register(_DefaultRegistry())
    return reg


def registry() -> CollectorRegistry:
    """The registry to expose: every process's samples in multiprocess mode (else this
    process's), plus the scrape-time collectors."""
    source = _samples_registry()
    reg = CollectorRegistry()
    reg.register(_Forward(source))
    reg.register(QueueDepthCollector())
    reg.register(FairnessCollector(source))
    reg.register(CostCollector())
    for factory in _scrape_collectors:
        reg.register(factory())
    return reg


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Any]:
        return self.source.collect()


def _allowed(request: HttpRequest) -> bool:
    token = settings.TF_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition. Per-tenant series are operator data: without
    TF_METRICS_TOKEN only loopback may scrape; with it, ``Authorization: Bearer`` is
    required. Anyone else gets the same 404 as a missing page."""
    if not _allowed(request):
        from .views import page_not_found

        return page_not_found(request)
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


# The scrape credential (a bearer token, or loopback) is checked above, not a tenant role.
metrics_view.required_roles = PUBLIC  # type: ignore[attr-defined]
