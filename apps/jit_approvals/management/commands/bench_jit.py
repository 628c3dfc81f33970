"""make bench-jit: 50 concurrent access requests; time from request to the Slack message
posted (at a Slack-compatible server on loopback) and to each approver's e-mail accepted
(by an SMTP server on loopback), p50/p95, as JSON.

Runs in a temporary tenant of the configured database (the Makefile points it at a
throw-away SQLite file unless DATABASE_URL is set). Celery runs eagerly in each request's
thread here, so the numbers are the notification path itself: outbox row, task, Slack Web
API call through slack_sdk, SMTP through Django's backend.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from guardian.shortcuts import assign_perm

from apps.core.models import Membership, Role, Tenant
from apps.core.tenancy import tenant_context
from apps.graphs.services import UploadedFile, dataset_create
from apps.jit_approvals import services
from apps.jit_approvals.devservers import BOT_TOKEN, FakeSlack, SmtpSink, free_port
from apps.jit_approvals.models import SlackIdentity
from apps.policy_studio.models import SubjectAttributes
from apps.policy_studio.services import policy_save_version


def _pct(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {
        "p50_ms": round(statistics.median(s), 1),
        "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 1),
        "max_ms": round(s[-1], 1),
        "n": len(s),
    }


class Command(BaseCommand):
    help = "Benchmark JIT notifications under concurrency (JSON)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--requests", type=int, default=50)

    def handle(self, *args: Any, requests: int = 50, **options: Any) -> None:
        self.stdout.write(json.dumps(self._run(requests), indent=2))

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
            report["targets"] = {"p95_ms_at_50_concurrent": {"value": worst, "target": 1000, "met": worst < 1000}}
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
