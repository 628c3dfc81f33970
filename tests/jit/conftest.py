"""A Slack-compatible Web API server and a real SMTP server (aiosmtpd), both on loopback,
with switches to make them fail; and a tenant set up for JIT approvals."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from guardian.shortcuts import assign_perm

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.jit_approvals.models import SlackIdentity
from apps.policy_studio.models import SubjectAttributes
from tests.conftest import load_calls_demo, member

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-0000000000-abcdefghijkl"


class FakeSlack:
    """Enough of the Slack Web API for chat.postMessage, chat.update and users.info."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures = 0
        self.lock = threading.Lock()
        self.events: list[tuple[float, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                with outer.lock:
                    failing = outer.failures > 0
                    if failing:
                        outer.failures -= 1
                    else:
                        outer.calls.append((method, body))
                        outer.events.append((time.perf_counter(), method))
                if failing:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"unavailable")
                    return
                if self.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                    reply = {"ok": False, "error": "invalid_auth"}
                elif method in ("chat.postMessage", "chat.update"):
                    reply = {
                        "ok": True,
                        "channel": body.get("channel", "C0"),
                        "ts": body.get("ts") or f"{time.time():.6f}",
                    }
                elif method == "users.info":
                    reply = {"ok": True, "user": {"id": body.get("user"), "name": "someone"}}
                else:
                    reply = {"ok": False, "error": "unknown_method"}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def posts(self) -> list[dict[str, Any]]:
        return [b for m, b in self.calls if m == "chat.postMessage"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """aiosmtpd handler: stores messages; can refuse the next N with a 451."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.failures = 0
        self.events: list[tuple[float, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.failures > 0:
            self.failures -= 1
            return "451 4.3.0 Temporary failure, try again"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.events.append((time.perf_counter(), envelope.rcpt_tos[0]))
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m["To"]]


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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
