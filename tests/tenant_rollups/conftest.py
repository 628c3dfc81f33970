"""A tenant with a week of data behind its digest: queries allowed and denied through the
real pipeline (so replays and log entries follow), JIT requests decided at known times, a
ZK-TX session; plus the previous week's smaller numbers, and the test clock."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.jit_approvals.models import AccessRequest
from apps.policy_studio.models import PolicyVersion
from apps.queries.models import QueryRun
from apps.queries.pipeline import query_run_execute
from apps.tenant_rollups import periods
from apps.zk_proofs.models import OverlapSession, Participation
from tests.conftest import demo_query, load_calls_demo, member
from tests.jit.conftest import smtp  # noqa: F401  (the aiosmtpd fixture)

TZ = "Europe/Berlin"
ALLOWED = demo_query(seeds=["grp12-0"], hops=2, metric="pagerank", fields=["city"])
DENIED = demo_query(seeds=["hub-a"], hops=1, metric="neighbourhood")


def local_time(week: periods.Week, tz: str, days: int, hour: int, minute: int = 0) -> datetime:
    """``days`` after the week's Monday, at ``hour:minute`` local time, as an aware datetime."""
    return datetime.combine(week.start_day + timedelta(days=days), time(hour, minute), tzinfo=periods.zone(tz))


def _jit_request(user: Any, created: datetime, minutes: float, status: str = "approved") -> AccessRequest:
    return AccessRequest.objects.create(
        requester=user,
        policy_version=PolicyVersion.objects.first(),
        rule_id="sensitive-names",
        dataset=Dataset.objects.get(slug="calls-demo"),
        data_classes=["P1"],
        purpose="investigation",
        reason="case",
        reason_sha256=hashlib.sha256(b"case").hexdigest(),
        duration_minutes=60,
        approvals_required=1,
        status=status,
        created_at=created,
        remind_at=created + timedelta(minutes=15),
        escalate_at=created + timedelta(minutes=30),
        deadline_at=created + timedelta(hours=1),
        decided_at=created + timedelta(minutes=minutes) if status != "pending" else None,
    )


@pytest.fixture
def digest_world(tenant_a, tenant_b, django_capture_on_commit_callbacks) -> dict[str, Any]:
    tenant_a.time_zone = TZ
    tenant_a.save()
    owner = member(tenant_a, "owner-a", Role.ADMIN, Role.POLICY_AUTHOR, Role.AUDITOR, Role.ANALYST)
    auditor = member(tenant_a, "auditor-a", Role.AUDITOR)
    analyst = member(tenant_a, "analyst-a", Role.ANALYST)
    outsider = member(tenant_b, "owner-b", Role.ADMIN)
    load_calls_demo(tenant_a, owner)
    tz = periods.zone(TZ)
    # The digest week is the real current week, so rows made "now" fall inside it.
    now = timezone.now()
    week = periods.week_starting(now.astimezone(tz).date() - timedelta(days=now.astimezone(tz).weekday()), tz)
    roles = frozenset({Role.ANALYST})
    with tenant_context(tenant_a):
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(2):
                query_run_execute(actor=analyst, roles=roles, spec=ALLOWED)
            for _ in range(4):
                query_run_execute(actor=analyst, roles=roles, spec=DENIED)
            previous = query_run_execute(actor=analyst, roles=roles, spec=DENIED)
        # One denial belongs to the previous week.
        QueryRun.objects.filter(pk=previous.pk).update(created_at=previous.created_at - timedelta(days=7))
        for minutes in (2, 4, 30):
            _jit_request(analyst, week.start + timedelta(hours=1), minutes)
        _jit_request(analyst, week.start - timedelta(days=3), 10)
        session = OverlapSession.objects.create(
            suite="secp256k1_XMD:SHA-256_SSWU_RO_", k=5, disclosure="verdict", selector_type="phone", status="done"
        )
        Participation.objects.create(session=session, role="A", created_by=owner, round2_verified=True)
    return {
        "tenant": tenant_a,
        "other": tenant_b,
        "owner": owner,
        "auditor": auditor,
        "analyst": analyst,
        "outsider": outsider,
        "week": week,
        "tz": TZ,
    }
