"""Nothing lost on a crash: outbox rows are claimed with a lease, a stale row is re-queued by
the beat sweep, and a retry after a lost attempt asks Slack before posting again. The worker
test kills a real worker (Redis broker, PostgreSQL) with SIGKILL while Slack holds its post."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.jit_approvals import notify, services, tasks
from apps.jit_approvals.models import Notification
from tests.conftest import ROOT, _database_url, _reset_celery_router, require_service


def _request(world: dict[str, Any]) -> Any:
    return services.request_create(
        requester=world["requester"], roles=frozenset({"analyst"}), dataset_slug="calls-demo",
        data_classes=["P0"], purpose="investigation", reason="case 2026-200, recovery test", duration_minutes=30,
    )  # fmt: skip


def _request_posts(slack: Any) -> list[dict[str, Any]]:
    return [b for b in slack.posts() if b.get("text", "").startswith("Access request #")]


@pytest.mark.django_db
def test_a_row_abandoned_mid_send_is_reclaimed_and_not_posted_twice(
    jit_world, slack, smtp, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(jit_world["tenant"]):
        with django_capture_on_commit_callbacks(execute=True):
            request = _request(jit_world)
        row = Notification.objects.get(request=request, channel="slack")
        assert row.status == "sent" and len(_request_posts(slack)) == 1
        # As a killed worker leaves it: claimed, lease expired, outcome unknown (it did post).
        Notification.objects.filter(pk=row.pk).update(
            status="sending", claim_token="dead-worker", lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert notify.stale_outbox() == [(jit_world["tenant"].pk, row.pk)]
        assert tasks.outbox_sweep.delay().get() == 1
        row.refresh_from_db()
        assert row.status == "sent" and len(_request_posts(slack)) == 1
        assert "not sent again" in row.attempt_log.last().error
        # Abandoned before Slack got it: the reclaim posts it, once.
        slack.history.clear()
        Notification.objects.filter(pk=row.pk).update(
            status="sending", claim_token="dead-worker", lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        tasks.outbox_sweep.delay()
        row.refresh_from_db()
        assert row.status == "sent" and len(_request_posts(slack)) == 2


@pytest.mark.django_db
def test_a_live_lease_is_not_taken_over(jit_world, slack, smtp, django_capture_on_commit_callbacks) -> None:
    with tenant_context(jit_world["tenant"]):
        with django_capture_on_commit_callbacks(execute=True):
            request = _request(jit_world)
        row = Notification.objects.get(request=request, channel="slack")
        Notification.objects.filter(pk=row.pk).update(
            status="sending", claim_token="live-worker", lease_expires_at=timezone.now() + timedelta(seconds=60)
        )
        assert notify.deliver(row.pk) == "sending"
        assert notify.stale_outbox() == []
        assert len(_request_posts(slack)) == 1


@pytest.mark.django_db
def test_rows_whose_broker_message_was_lost_are_requeued_by_the_sweep(
    jit_world, slack, smtp, django_capture_on_commit_callbacks, settings
) -> None:
    with tenant_context(jit_world["tenant"]):
        with django_capture_on_commit_callbacks(execute=False):  # the broker never got them
            request = _request(jit_world)
        rows = Notification.objects.filter(request=request)
        assert set(rows.values_list("status", flat=True)) == {"pending"} and not slack.posts()
        assert tasks.outbox_sweep.delay().get() == 0  # not stale yet
        settings.JIT_OUTBOX_STALE_SECONDS = 0
        assert tasks.outbox_sweep.delay().get() == rows.count()
        assert set(rows.values_list("status", flat=True)) == {"sent"}
        assert len(_request_posts(slack)) == 1 and len(smtp.messages) == 2
        assert tasks.outbox_sweep.delay().get() == 0  # sent rows are never re-queued


def _worker(queue: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "trustfabric", "worker", "--pool=solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_mid_delivery_loses_and_duplicates_nothing(jit_world, slack, smtp) -> None:
    from trustfabric.celery import app

    broker = settings.CELERY_BROKER_URL
    require_service(broker.startswith("redis://"), "CELERY_BROKER_URL must point at Redis for the worker test")
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "SLACK_BOT_TOKEN": settings.SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": settings.SLACK_SIGNING_SECRET,
        "SLACK_API_URL": settings.SLACK_API_URL,
        "SLACK_APPROVALS_MODE": "dm",
        "EMAIL_URL": f"smtp://127.0.0.1:{settings.EMAIL_PORT}",
        "JIT_OUTBOX_LEASE_SECONDS": "2",
    }
    previous = app.conf.task_default_queue, app.conf.task_routes
    app.conf.task_default_queue, app.conf.task_routes = queue, {"*": {"queue": queue}}
    _reset_celery_router(app)
    workers: list[subprocess.Popen[str]] = []
    try:
        slack.hold = 1  # Slack sits on the first post until we release it
        with tenant_context(jit_world["tenant"]):
            request = _request(jit_world)  # three rows queued: Slack to sup1, e-mail to sup1 and sup2
            rows = Notification.objects.filter(request=request)
            slack_row = rows.get(channel="slack")
        assert rows.count() == 3
        workers.append(_worker(queue, env))
        _wait(lambda: slack.held == 1, 60, "the worker to post to Slack")
        with tenant_context(jit_world["tenant"]):
            slack_row.refresh_from_db()
        assert slack_row.status == "sending" and slack_row.lease_expires_at is not None
        os.kill(workers[0].pid, signal.SIGKILL)  # mid-delivery: claimed, posted, no reply yet
        workers[0].wait(timeout=10)
        slack.release.set()  # Slack accepts the post anyway: the worst case, delivered but unrecorded
        _wait(lambda: len(_request_posts(slack)) == 1, 10, "Slack to accept the held post")

        workers.append(_worker(queue, env))
        with tenant_context(jit_world["tenant"]):
            _wait(lambda: rows.filter(channel="email", status="sent").count() == 2, 90, "the e-mails")
            assert rows.get(pk=slack_row.pk).status == "sending"  # abandoned, until the sweep
            time.sleep(2.5)  # the dead worker's lease runs out
            # What beat runs every minute; run here so its re-queued task reaches this test's
            # worker (inside a worker, jit.deliver would be routed to the notifications queue).
            assert tasks.outbox_sweep.apply().get() == 1
            _wait(lambda: rows.filter(status="sent").count() == 3, 90, "the sweep to recover the Slack row")
            slack_row.refresh_from_db()
            attempts = list(slack_row.attempt_log.values_list("ok", "error"))
        # Exactly once on every channel: one Slack message, one e-mail per approver.
        assert len(_request_posts(slack)) == 1
        assert sorted(m["To"] for m in smtp.messages) == sorted([jit_world["sup1"].email, jit_world["sup2"].email])
        assert slack_row.attempts == 2 and attempts == [
            (True, "already delivered by an interrupted attempt; not sent again")
        ]
    finally:
        slack.release.set()
        app.conf.task_default_queue, app.conf.task_routes = previous
        _reset_celery_router(app)
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.communicate(timeout=30)


@pytest.mark.django_db
def test_an_email_resent_after_a_lost_acknowledgement_carries_the_same_message_id(
    jit_world, slack, smtp, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(jit_world["tenant"]):
        with django_capture_on_commit_callbacks(execute=True):
            request = _request(jit_world)
        row = Notification.objects.get(request=request, channel="email", recipient=jit_world["sup2"])
        first = [m for m in smtp.messages if m["To"] == jit_world["sup2"].email]
        assert len(first) == 1
        # SMTP cannot be asked whether a message arrived: the retry resends, recognisably the same.
        Notification.objects.filter(pk=row.pk).update(
            status="sending", claim_token="dead-worker", lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        tasks.outbox_sweep.delay()
        again = [m for m in smtp.messages if m["To"] == jit_world["sup2"].email]
        assert len(again) == 2 and again[0]["Message-ID"] == again[1]["Message-ID"]
        others = {m["Message-ID"] for m in smtp.messages if m["To"] != jit_world["sup2"].email}
        assert again[0]["Message-ID"] not in others
        # The same approval links, too: the resend does not mint new ones.
        assert again[0].get_body(("plain",)).get_content() == again[1].get_body(("plain",)).get_content()
