"""make bench-jit: 50 concurrent access requests; time from request to the Slack message
posted (at a Slack-compatible server on loopback) and to each approver's e-mail accepted
(by an SMTP server on loopback), p50/p95, as JSON, with the same path one request at a
time as the in-run baseline.

Runs in a temporary tenant of the configured database.

- ``--profile embedded``: one process, Celery eager, so delivery runs in each request's
  thread (the Makefile points it at a throw-away SQLite file).
- ``--profile production``: PostgreSQL and Redis; the requests go over HTTP to gunicorn
  (2 workers), deliveries are made by a separate Celery worker on the ``notifications``
  queue (thread pool), and a second worker consumes the other queues — the report shows
  which worker ran which tasks, so the queue split is checked in the same run.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from guardian.shortcuts import assign_perm

from apps.core import bench
from apps.core.models import Membership, Role, Tenant
from apps.core.services import api_token_create
from apps.core.tenancy import tenant_context
from apps.graphs.services import UploadedFile, dataset_create
from apps.jit_approvals import services
from apps.jit_approvals.models import SlackIdentity
from apps.policy_studio.models import SubjectAttributes
from apps.policy_studio.services import policy_save_version
from devtools.servers import BOT_TOKEN, FakeSlack, SmtpSink, free_port


def _pct(values: list[float]) -> dict[str, float]:
    return bench.pct(values)


REQUEST_BODY = {"dataset": "calls-demo", "data_classes": ["P0"], "purpose": "investigation", "duration_minutes": 30}
NOTIFICATION_WORKERS = 8  # threads in the notifications worker: deliveries wait on I/O


def _post_request(base: str, token: str, i: int) -> tuple[int, int | None]:
    """One access request over HTTP; (status, request id)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = json.dumps({**REQUEST_BODY, "reason": f"bench request {i} for a case"})
    conn.request(
        "POST",
        "/api/jit/requests/",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    data = response.read()
    conn.close()
    rid = json.loads(data).get("id") if response.status == 201 else None
    return response.status, rid


class Command(BaseCommand):
    help = "Benchmark JIT notifications under concurrency (JSON)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--requests", type=int, default=50)
        parser.add_argument("--sequential", type=int, default=20, help="Baseline: requests one at a time.")
        bench.add_profile_argument(parser)

    def handle(
        self, *args: Any, requests: int = 50, sequential: int = 20, profile: str = "embedded", **options: Any
    ) -> None:
        if profile == "production":
            try:
                report = self._run_production(requests, sequential)
            except bench.ProfileError as exc:
                raise CommandError(str(exc)) from exc
        else:
            report = self._run(requests)
        self.stdout.write(json.dumps(report, indent=2))

    # --- production: HTTP to gunicorn, deliveries by a separate worker -------------------------

    def _run_production(self, requests: int, sequential: int) -> dict[str, Any]:
        from trustfabric.celery import app

        bench.require_production()
        slack, sink = FakeSlack(), SmtpSink()
        port = free_port()
        smtp = Controller(sink, hostname="127.0.0.1", port=port)
        smtp.start()
        host = bench._hostname()
        topology = bench.Topology(
            web_workers=2,
            workers=[
                bench.Worker(
                    ("notifications",), pool="threads", concurrency=NOTIFICATION_WORKERS, name="notifications@%h"
                ),
                bench.Worker(("default", "verification", "zk"), name="default@%h"),
            ],
            env={
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": "bench",
                "SLACK_API_URL": slack.url,
                "SLACK_APPROVALS_MODE": "dm",
                "EMAIL_URL": f"smtp://127.0.0.1:{port}",
            },
        )
        try:
            tenant, requesters, approvers = self._world(requests + sequential)
            with tenant_context(tenant):
                tokens = [api_token_create(user=u, name="bench")[1] for u in requesters]
            with topology:
                base = topology.url
                one = self._http_sequential(base, tokens[requests:], slack, sink)
                burst = self._http_burst(base, tokens[:requests], slack, sink, requests)
                # A task for the default queue, so the split shows both workers at work.
                from apps.core.tasks import audit_chain_verify

                audit_chain_verify.delay(tenant.pk).get(timeout=60)
                names = [f"notifications@{host}", f"default@{host}"]
                stats = app.control.inspect(destination=names, timeout=2).stats() or {}
                split = {name: stats.get(name, {}).get("total", {}) for name in names}
            with tenant_context(tenant):
                from apps.jit_approvals.models import NotificationAttempt

                durations: dict[str, list[float]] = {"slack": [], "email": []}
                for channel, ms in NotificationAttempt.objects.filter(ok=True).values_list(
                    "notification__channel", "duration_ms"
                ):
                    durations[channel].append(ms)
        finally:
            Tenant.objects.filter(slug__startswith="bench-jit-").update(is_active=False)
            smtp.stop()
            slack.close()
        worst = max(burst["request_to_slack_posted"]["p95_ms"], burst["request_to_email_accepted"]["p95_ms"])
        # The split works when every delivery ran on the notifications worker and nothing else did.
        notifications_ok = (
            not any(k.startswith("jit.") for k in split[names[1]])
            and set(split[names[0]]) == {"jit.deliver"}
            and split[names[0]]["jit.deliver"] >= burst["slack_messages"] + burst["emails"]
        )
        return {
            "benchmark": "jit",
            "profile": "production",
            "database": connection.vendor,
            "topology": {
                "web": f"gunicorn, 2 workers x {bench.WEB_THREADS} threads (gthread)",
                "workers": {
                    names[0]: f"-Q notifications -P threads -c {NOTIFICATION_WORKERS}",
                    names[1]: "-Q default,verification,zk -P prefork -c 1",
                },
            },
            "one_at_a_time": one,
            **burst,
            "delivery_attempt_ms": {k: _pct(v) for k, v in durations.items() if v},
            "approvers_per_request": len(approvers),
            "queue_split": {"tasks_by_worker": split, "ok": notifications_ok},
            "targets": {
                "p95_ms_at_50_concurrent": bench.figure(
                    worst,
                    unit="ms",
                    target=1000,
                    aim=1000,
                    baseline={
                        "one_at_a_time_p95_ms": max(
                            one["request_to_slack_posted"]["p95_ms"], one["request_to_email_accepted"]["p95_ms"]
                        )
                    },
                )
            },
        }

    def _latencies(self, starts: dict[int, float], slack: FakeSlack, sink: SmtpSink) -> tuple[list[float], list[float]]:
        slack_latency, email_latency = [], []
        for (at, method), (_, body) in zip(slack.events, slack.calls, strict=True):
            if method == "chat.postMessage" and body.get("text", "").startswith("Access request #"):
                rid = int(body["text"].split("#")[1].split()[0])
                if rid in starts:
                    slack_latency.append((at - starts[rid]) * 1000)
        for (at, _), message in zip(sink.events, sink.messages, strict=True):
            rid = int(str(message["Subject"]).split("#")[1].split(":")[0])
            if rid in starts:
                email_latency.append((at - starts[rid]) * 1000)
        return slack_latency, email_latency

    def _wait_delivered(self, slack: FakeSlack, sink: SmtpSink, slack_n: int, email_n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(slack.posts()) >= slack_n and len(sink.messages) >= email_n:
                return
            time.sleep(0.02)

    def _http_sequential(self, base: str, tokens: list[str], slack: FakeSlack, sink: SmtpSink) -> dict[str, Any]:
        starts: dict[int, float] = {}
        responses = []
        for i, token in enumerate(tokens):
            posts, mails = len(slack.posts()), len(sink.messages)
            t0 = time.perf_counter()
            _status, rid = _post_request(base, token, i)
            responses.append((time.perf_counter() - t0) * 1000)
            if rid is not None:
                starts[rid] = t0
            self._wait_delivered(slack, sink, posts + 2, mails + 2, 30)
        slack_latency, email_latency = self._latencies(starts, slack, sink)
        for store in (slack.calls, slack.events, sink.messages, sink.events):
            store.clear()
        return {
            "requests": len(tokens),
            "http_response": _pct(responses),
            "request_to_slack_posted": _pct(slack_latency),
            "request_to_email_accepted": _pct(email_latency),
        }

    def _http_burst(
        self, base: str, tokens: list[str], slack: FakeSlack, sink: SmtpSink, requests: int
    ) -> dict[str, Any]:
        starts: dict[int, float] = {}
        responses: list[float] = []
        errors: list[str] = []
        barrier = threading.Barrier(requests)

        def one(i: int) -> None:
            try:
                barrier.wait()
                t0 = time.perf_counter()
                status, rid = _post_request(base, tokens[i], i)
                responses.append((time.perf_counter() - t0) * 1000)
                if rid is None:
                    errors.append(f"HTTP {status}")
                else:
                    starts[rid] = t0
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {exc}")

        started = time.perf_counter()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(requests)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._wait_delivered(slack, sink, 2 * len(starts), 2 * len(starts), 120)
        wall = time.perf_counter() - started
        slack_latency, email_latency = self._latencies(starts, slack, sink)
        return {
            "concurrent_requests": requests,
            "created": len(starts),
            "errors": errors[:5],
            "wall_seconds": round(wall, 2),
            "http_response": _pct(responses),
            "request_to_slack_posted": _pct(slack_latency),
            "request_to_email_accepted": _pct(email_latency),
            "slack_messages": len(slack_latency),
            "emails": len(email_latency),
        }

    # --- embedded: one process, eager Celery ---------------------------------------------------

    def _run(self, requests: int) -> dict[str, Any]:
        from trustfabric.celery import app

        slack = FakeSlack()
        sink = SmtpSink()
        port = free_port()
        smtp = Controller(sink, hostname="127.0.0.1", port=port)
        smtp.start()
        app.conf.task_always_eager = True
        settings.SLACK_BOT_TOKEN, settings.SLACK_SIGNING_SECRET, settings.SLACK_API_URL = BOT_TOKEN, "bench", slack.url
        settings.SLACK_ENABLED, settings.SLACK_APPROVALS_MODE = True, "dm"
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
        try:
            tenant, requesters, approvers = self._world(requests + 20)
            sequential = self._sequential(tenant, requesters[requests:], slack, sink)
            requesters = requesters[:requests]
            starts: dict[int, float] = {}
            errors: list[str] = []
            barrier = threading.Barrier(requests)

            def one(i: int) -> None:
                try:
                    barrier.wait()
                    with tenant_context(tenant):
                        t0 = time.perf_counter()
                        req = services.request_create(
                            requester=requesters[i], roles=frozenset({"analyst"}), dataset_slug="calls-demo",
                            data_classes=["P0"], purpose="investigation", reason=f"bench request {i} for a case", duration_minutes=30,
                        )  # fmt: skip
                        starts[req.pk] = t0
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"{type(exc).__name__}: {exc}")
                finally:
                    connection.close()

            started = time.perf_counter()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(requests)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
            slack_latency, email_latency = [], []
            for method, body in slack.calls:
                if method == "chat.postMessage" and body.get("text", "").startswith("Access request #"):
                    rid = int(body["text"].split("#")[1].split()[0])
                    at = next(t for (t, m), (m2, b) in zip(slack.events, slack.calls, strict=True) if b is body)
                    slack_latency.append((at - starts[rid]) * 1000)
            for (at, _), message in zip(sink.events, sink.messages, strict=True):
                rid = int(str(message["Subject"]).split("#")[1].split(":")[0])
                email_latency.append((at - starts[rid]) * 1000)
            report = {
                "benchmark": "jit",
                "profile": "embedded",
                "one_at_a_time": sequential,
                "database": connection.vendor,
                "concurrent_requests": requests,
                "created": len(starts),
                "errors": errors[:5],
                "wall_seconds": round(wall, 2),
                "request_to_slack_posted": _pct(slack_latency) if slack_latency else None,
                "request_to_email_accepted": _pct(email_latency) if email_latency else None,
                "slack_messages": len(slack_latency),
                "emails": len(email_latency),
                "approvers_per_request": len(approvers),
            }
            worst = max(report["request_to_slack_posted"]["p95_ms"], report["request_to_email_accepted"]["p95_ms"])
            one = max(
                sequential["request_to_slack_posted"]["p95_ms"], sequential["request_to_email_accepted"]["p95_ms"]
            )
            report["targets"] = {
                "p95_ms_at_50_concurrent": bench.figure(
                    worst, unit="ms", target=1000, aim=1000, baseline={"one_at_a_time_p95_ms": one}
                )
            }
            return report
        finally:
            Tenant.objects.filter(slug__startswith="bench-jit-").update(is_active=False)
            smtp.stop()
            slack.close()

    def _sequential(self, tenant: Tenant, requesters: list[Any], slack: FakeSlack, sink: SmtpSink) -> dict[str, Any]:
        """The same path with no contention: one request at a time."""
        to_slack, to_email = [], []
        with tenant_context(tenant):
            for user in requesters:
                posts, mails = len(slack.events), len(sink.events)
                t0 = time.perf_counter()
                services.request_create(
                    requester=user, roles=frozenset({"analyst"}), dataset_slug="calls-demo", data_classes=["P0"],
                    purpose="investigation", reason="sequential bench request", duration_minutes=30,
                )  # fmt: skip
                to_slack.append((slack.events[posts][0] - t0) * 1000)
                to_email.append((sink.events[mails][0] - t0) * 1000)
        slack.calls.clear()
        slack.events.clear()
        sink.messages.clear()
        sink.events.clear()
        return {
            "requests": len(requesters),
            "request_to_slack_posted": _pct(to_slack),
            "request_to_email_accepted": _pct(to_email),
        }

    def _world(self, requests: int) -> tuple[Tenant, list[Any], list[Any]]:
        User = get_user_model()
        tag = uuid.uuid4().hex[:6]
        tenant = Tenant.objects.create(slug=f"bench-jit-{tag}", name="JIT benchmark (temporary)")
        with tenant_context(tenant):
            owner = User.objects.create(username=f"bench-owner-{tag}")
            fixtures = Path(settings.BASE_DIR) / "fixtures"
            graph = fixtures / "datasets" / "calls-demo.json"
            version = dataset_create(
                actor=owner,
                slug="calls-demo",
                name="Calls",
                files={"graph": UploadedFile(graph.name, graph.read_bytes())},
            )
            policy_save_version(
                actor=owner, slug="p", source=(fixtures / "policies" / "investigations.yaml").read_text(), activate=True
            )
            approvers = []
            for i in range(2):
                user = User.objects.create(username=f"bench-sup{i}-{tag}", email=f"sup{i}-{tag}@bench.test")
                Membership.objects.create(user=user, role=Role.APPROVER)
                SubjectAttributes.objects.create(user=user, groups=["supervisors"])
                assign_perm("graphs.approve_access", user, version.dataset)
                SlackIdentity.objects.create(
                    user=user, slack_user_id=f"U{i}{tag.upper()}", verified_at="2026-01-01T00:00:00Z"
                )
                approvers.append(user)
            requesters = []
            for i in range(requests):
                user = User.objects.create(username=f"bench-req{i}-{tag}", email=f"req{i}-{tag}@bench.test")
                Membership.objects.create(user=user, role=Role.ANALYST)
                requesters.append(user)
        return tenant, requesters, approvers
