"""A page delivered by a real Celery worker process (Redis broker, PostgreSQL) to the loopback
Slack stand-in (slack_sdk) and a real SMTP server, after the anomaly's transaction commits."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction
from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.jit_approvals.models import Notification, SlackIdentity
from apps.pcq_ops import anomalies, lineage
from devtools.servers import BOT_TOKEN, FakeSlack, SmtpSink, free_port


@pytest.fixture
def worker_outside(settings) -> Iterator[dict[str, Any]]:
    """Slack and SMTP stand-ins, named in the environment the worker process starts with."""
    slack, sink = FakeSlack(), SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    wanted = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "test-signing-secret-0123456789",
        "SLACK_API_URL": slack.url,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
    }
    previous = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    settings.SLACK_ENABLED = True  # this process writes the Slack rows; the worker sends them
    yield {"slack": slack, "smtp": sink}
    controller.stop()
    slack.close()
    for k, v in previous.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _wait(check, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.25)


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_a_burst_is_one_slack_dm_and_one_mail_from_the_worker(
    tenant_a, admin_a, worker_outside, celery_worker_queue
) -> None:
    slack, smtp = worker_outside["slack"], worker_outside["smtp"]
    admin_a.email = "oncall@a.test"
    admin_a.save()
    with tenant_context(tenant_a):
        SlackIdentity.objects.create(user=admin_a, slack_user_id="U0ONCALL", verified_at=timezone.now())
        current = {"dataset": lineage.dataset_node("calls-demo", 2, "2" * 64)}
        for _ in range(3):
            with transaction.atomic():
                a = anomalies.anomaly_record(
                    kind="error", message="Replay failed.", current=current, subject="query:calls-demo:degree",
                    dataset="calls-demo",
                )  # fmt: skip
        rows = Notification.objects.filter(kind="message")
        _wait(lambda: rows.filter(status="sent").count() == 2)
        assert sorted(rows.values_list("channel", "status")) == [("email", "sent"), ("slack", "sent")]
    url = f"/ops/pcq/pages/{a.page_id}/"
    [dm] = [p for p in slack.posts() if p["channel"] == "U0ONCALL"]
    assert url in dm["text"]
    [mail] = smtp.to("oncall@a.test")
    assert "PCQ page" in mail["Subject"] and url in mail.get_body(("plain",)).get_content()
