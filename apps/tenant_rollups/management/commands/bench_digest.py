"""manage.py bench_digest: the cost of one tenant's weekly digest. Prints JSON.

In a throwaway tenant (inside a transaction that is rolled back, log appends included): N
query runs spread over two weeks with a mix of statuses and reason codes, M approved JIT
requests, R subscribed admins. Measures collecting the sections, the whole build (collect +
canonicalise + sign + log append + action items), one recipient's e-mail with its charts
against the same e-mail without charts (the baseline), and the offline verification.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.core.models import Membership, Role, Tenant
from apps.core.tenancy import tenant_context
from apps.tenant_rollups import mail, periods, selectors
from apps.tenant_rollups.models import DigestDelivery
from apps.tenant_rollups.offline import verify_digest_file
from apps.tenant_rollups.services import digest_build, digest_document


def _pct(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(statistics.median(s), 2),
        "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 2),
        "n": len(s),
    }


def _timed(fn: Any, repeat: int) -> tuple[list[float], Any]:
    samples, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, out


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--queries", type=int, default=20000)
        parser.add_argument("--jit", type=int, default=500)
        parser.add_argument("--recipients", type=int, default=20)
        parser.add_argument("--repeat", type=int, default=5)

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            result = self._run(options)
            transaction.set_rollback(True)
        self.stdout.write(json.dumps(result, indent=2))

    def _run(self, o: dict[str, Any]) -> dict[str, Any]:
        from django.contrib.auth import get_user_model

        from apps.graphs.models import Dataset, DatasetVersion
        from apps.jit_approvals.models import AccessRequest
        from apps.policy_studio.models import PolicyVersion
        from apps.policy_studio.services import policy_save_version
        from apps.queries.demo import FIXTURES, install_calls_demo
        from apps.queries.models import QueryRun

        rng = random.Random(7)
        tenant = Tenant.objects.create(slug=f"bench-{uuid.uuid4().hex[:8]}", name="Bench digest", time_zone="UTC")
        users = [
            get_user_model().objects.create(username=f"{tenant.slug}-u{i}", email=f"u{i}@bench.test")
            for i in range(o["recipients"])
        ]
        with tenant_context(tenant):
            for user in users:
                Membership.objects.create(user=user, role=Role.ADMIN)
            install_calls_demo(users[0])
            policy_save_version(
                actor=users[0],
                slug="investigations",
                source=(FIXTURES / "policies" / "investigations.yaml").read_text(),
                activate=True,
            )
            week = periods.last_complete_week(timezone.now(), periods.zone("UTC"))
            version = DatasetVersion.objects.first()
            span = (week.end - week.start).total_seconds() * 2
            codes = [["rule:analysts-investigate"], ["DEGREE_EXCEEDED", "rule:a"], ["JIT_REQUIRED"], ["PURPOSE"]]
            QueryRun.objects.bulk_create(
                [
                    QueryRun(
                        tenant=tenant,
                        user=users[0],
                        spec={},
                        dataset_version=version,
                        status=rng.choice(["allowed", "allowed", "denied"]),
                        reason_codes=rng.choice(codes),
                        created_at=week.start - timedelta(days=7) + timedelta(seconds=rng.random() * span),
                    )
                    for _ in range(o["queries"])
                ],
                batch_size=2000,
            )
            pv, dataset = PolicyVersion.objects.first(), Dataset.objects.first()
            AccessRequest.objects.bulk_create(
                [
                    AccessRequest(
                        tenant=tenant,
                        requester=users[0],
                        policy_version=pv,
                        rule_id="r",
                        dataset=dataset,
                        data_classes=["P1"],
                        purpose="investigation",
                        reason="bench",
                        reason_sha256=hashlib.sha256(b"bench").hexdigest(),
                        duration_minutes=60,
                        approvals_required=1,
                        status="approved",
                        created_at=(t := week.start + timedelta(seconds=rng.random() * span / 2)),
                        decided_at=t + timedelta(minutes=rng.expovariate(1 / 6)),
                        remind_at=t,
                        escalate_at=t,
                        deadline_at=t + timedelta(hours=1),
                    )
                    for _ in range(o["jit"])
                ]
            )
            now = week.end + timedelta(hours=8)
            collect, _ = _timed(lambda: digest_document(tenant, week, now), o["repeat"])
            built, digest = _timed(lambda: digest_build(tenant, now=now, week=week), 1)
            deliveries = list(DigestDelivery.objects.filter(digest=digest).select_related("digest", "recipient"))
            mail._chart_png.cache_clear()
            cold, message = _timed(lambda: mail.build_message(deliveries[0]).message().as_bytes(), 1)
            warm, _ = _timed(lambda: mail.build_message(deliveries[-1]).message().as_bytes(), o["repeat"])
            charts = [c for s in digest.document["sections"] for c in s.get("charts", [])]
            plain_samples = []
            for _ in range(o["repeat"]):
                started = time.perf_counter()
                ctx = mail.render_context(deliveries[0], for_email=True)
                ctx["charts"] = []
                from django.template.loader import render_to_string

                render_to_string("tenant_rollups/email/digest.html", ctx)
                render_to_string("tenant_rollups/email/digest.txt", ctx)
                plain_samples.append((time.perf_counter() - started) * 1000)
            file = json.dumps(selectors.digest_file(digest)).encode()
            from apps.core.keys import public_keys

            verify, report = _timed(lambda: verify_digest_file(file, public_keys()), o["repeat"])
        return {
            "fixture": {
                "query_runs": o["queries"],
                "jit_requests": o["jit"],
                "recipients": len(deliveries),
                "charts": len(charts),
            },
            "collect_sections": _pct(collect),
            "build_sign_log": _pct(built),
            "email_first_recipient_draws_charts": {**_pct(cold), "bytes": len(message)},
            "email_next_recipients_cached_charts": _pct(warm),
            "email_without_charts_baseline": _pct(plain_samples),
            "offline_verify": {**_pct(verify), "verified": report["verified"]},
            "document_bytes": len(json.dumps(digest.document)),
        }
