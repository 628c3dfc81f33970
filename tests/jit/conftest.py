"""A Slack-compatible Web API server and a real SMTP server (aiosmtpd), both on loopback,
with switches to make them fail; and a tenant set up for JIT approvals."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from guardian.shortcuts import assign_perm

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.jit_approvals.models import SlackIdentity
from apps.policy_studio.models import SubjectAttributes
from devtools.servers import BOT_TOKEN, FakeSlack, SmtpSink, free_port
from tests.conftest import load_calls_demo, member

SIGNING_SECRET = "test-signing-secret-0123456789"


@pytest.fixture
def slack(settings) -> Iterator[FakeSlack]:
    server = FakeSlack()
    settings.SLACK_BOT_TOKEN = BOT_TOKEN
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_API_URL = server.url
    settings.SLACK_ENABLED = True
    settings.SLACK_APPROVALS_MODE = "dm"
    yield server
    server.close()


@pytest.fixture
def smtp(settings) -> Iterator[SmtpSink]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    yield sink
    controller.stop()


def slack_signature(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """Exactly as Slack signs interactivity requests."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@pytest.fixture
def jit_world(tenant_a, tenant_b) -> dict[str, Any]:
    """Tenant A with calls-demo, the investigations policy (with its JIT rule), a requester,
    two supervisors (one linked to Slack), a duty officer, and an approver in tenant B."""
    admin = member(tenant_a, "jit-admin", Role.ADMIN, Role.POLICY_AUTHOR, Role.AUDITOR)
    load_calls_demo(tenant_a, admin)
    people = {
        "requester": member(tenant_a, "requester", Role.ANALYST),
        "sup1": member(tenant_a, "sup1", Role.APPROVER),
        "sup2": member(tenant_a, "sup2", Role.APPROVER),
        "duty": member(tenant_a, "duty", Role.APPROVER),
        "outsider": member(tenant_b, "outsider", Role.APPROVER),
        "admin": admin,
    }
    with tenant_context(tenant_a):
        dataset = Dataset.objects.get(slug="calls-demo")
        for key, groups in (("sup1", ["supervisors"]), ("sup2", ["supervisors"]), ("duty", ["duty-officers"])):
            SubjectAttributes.objects.create(user=people[key], groups=groups)
            assign_perm("graphs.approve_access", people[key], dataset)
        SlackIdentity.objects.create(user=people["sup1"], slack_user_id="U0SUP1", verified_at="2026-01-01T00:00:00Z")
    return {"tenant": tenant_a, "dataset": dataset, **people}
