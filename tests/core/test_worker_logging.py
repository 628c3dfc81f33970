"""A real Celery worker writes the same JSON lines as the web process, through the same
redaction, and carries the request id and tenant id of whoever queued the task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import structlog
from django.conf import settings

from apps.core.logging import bind_log_context
from apps.core.tasks import audit_chain_verify
from tests.conftest import ROOT, _database_url, require_service, scan_logs_for


@pytest.fixture
def worker_with_log(tmp_path):
    from trustfabric.celery import app

    broker = settings.CELERY_BROKER_URL
    require_service(broker.startswith("redis://"), "CELERY_BROKER_URL must point at Redis for the worker test")
    queue = f"test-log-{uuid.uuid4().hex[:10]}"
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": broker, "LOG_FORMAT": "json"}
    with log_path.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "trustfabric", "worker", "--pool=solo", "-Q", queue,
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield queue, log_path
    finally:
        app.conf.task_default_queue = previous
        worker.terminate()
        worker.wait(timeout=30)
        # The session-end scan (tests/conftest.py) checks the worker's lines too.
        from tests import conftest

        if conftest.LOG_CAPTURE is not None:
            with conftest.LOG_CAPTURE.open("a", encoding="utf-8") as capture:
                capture.write(log_path.read_text())


def _lines(path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_worker_output_is_json_redacted_and_carries_the_request_context(tenant_a, worker_with_log) -> None:
    queue, log_path = worker_with_log
    secret = "tf_" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    scan_logs_for(secret)
    structlog.contextvars.clear_contextvars()
    bind_log_context(request_id="req-worker-0001", tenant_id=tenant_a.pk)
    try:
        ok = audit_chain_verify.apply_async(args=[tenant_a.pk], queue=queue)
        # A task that fails with the secret in its error message: Celery logs the traceback.
        bad = audit_chain_verify.apply_async(args=[f"Bearer {secret}"], queue=queue)
    finally:
        structlog.contextvars.clear_contextvars()
    assert ok.get(timeout=90)["ok"] is True
    with pytest.raises(Exception):  # noqa: B017 - whatever the worker raised
        bad.get(timeout=90)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("raised unexpected" in line for line in _lines(log_path)):
        time.sleep(0.3)
    text = log_path.read_text()
    assert secret not in text
    records = []
    for line in _lines(log_path):
        records.append(json.loads(line))  # every line the worker wrote is a JSON object
    failure = [r for r in records if r.get("level") == "error" and "raised unexpected" in r.get("event", "")]
    assert failure, [r.get("event") for r in records]
    assert failure[0]["request_id"] == "req-worker-0001" and failure[0]["tenant_id"] == tenant_a.pk
    assert "[REDACTED]" in json.dumps(failure[0])
    started = [r for r in records if r.get("logger", "").startswith("celery") and "ready" in r.get("event", "")]
    assert started, "the worker's own start-up lines are JSON too"


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_a_request_id_reaches_the_task_it_queued(tenant_a, worker_with_log, admin_a) -> None:
    from tests.conftest import token_client

    _, log_path = worker_with_log
    api = token_client(admin_a, tenant_a)
    queued = api.post("/api/audit-chain-checks/", HTTP_X_REQUEST_ID="req-from-web-42")
    assert queued.status_code == 202
    deadline = time.monotonic() + 60
    started: list[dict] = []
    while time.monotonic() < deadline and not started:
        time.sleep(0.3)
        records = [json.loads(line) for line in _lines(log_path) if line.startswith("{")]
        started = [r for r in records if r.get("event") == "task started"]
    assert started, "the worker never started the task"
    assert started[0]["request_id"] == "req-from-web-42" and started[0]["tenant_id"] == tenant_a.pk
    assert started[0]["task"] == "core.audit_chain_verify"


def test_beat_keeps_the_django_logging_configuration() -> None:
    """Beat fires the same setup_logging signal as the worker; with our receiver Celery
    configures nothing itself, so the root handler stays the redacting JSON one."""
    import logging

    from celery import signals

    from trustfabric.celery import _use_django_logging

    assert _use_django_logging in [r() for _, r in signals.setup_logging.receivers]
    root = logging.getLogger()
    before = list(root.handlers)
    signals.setup_logging.send(sender=None, loglevel=logging.INFO, logfile=None, format="", colorize=False)
    try:
        handler = next(h for h in root.handlers if h not in before)
        assert type(handler.formatter).__name__ == "ProcessorFormatter"
        assert any(type(f).__name__ == "RedactSecretsFilter" for f in handler.filters)
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
        root.handlers[:] = before
