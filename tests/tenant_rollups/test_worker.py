"""The digest e-mail sent by a real Celery worker process through the real broker to a
real SMTP server, after the digest's transaction commits."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from apps.core.tenancy import tenant_context
from apps.tenant_rollups.models import DigestDelivery
from apps.tenant_rollups.services import digest_build
from devtools.servers import SmtpSink, free_port
from tests.tenant_rollups.conftest import local_time


@pytest.fixture
def worker_smtp() -> Iterator[SmtpSink]:
    """An SMTP server the worker process is pointed at (it reads EMAIL_URL at start)."""
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    previous = os.environ.get("EMAIL_URL")
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    yield sink
    controller.stop()
    if previous is None:
        os.environ.pop("EMAIL_URL", None)
    else:
        os.environ["EMAIL_URL"] = previous


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_worker_delivers_the_digest_after_commit(digest_world, worker_smtp, celery_worker_queue) -> None:
    w = digest_world
    digest = digest_build(w["tenant"], now=local_time(w["week"], w["tz"], 7, 7, 5))
    deadline = time.monotonic() + 90
    while not worker_smtp.to("owner-a@example.test") and time.monotonic() < deadline:
        time.sleep(0.25)
    [mail] = worker_smtp.to("owner-a@example.test")
    assert digest.week_label in mail["Subject"]
    with tenant_context(w["tenant"]):
        row = DigestDelivery.objects.get(recipient=w["owner"])
        for _ in range(40):  # the worker marks the row right after the SMTP answer
            if row.status == "sent":
                break
            time.sleep(0.25)
            row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 1
