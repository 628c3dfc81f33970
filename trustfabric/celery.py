"""The Celery app. Periodic schedules are declared here, in code; django-celery-beat's
DatabaseScheduler copies them into the database so operators can see and pause them."""

import os
from typing import Any

from celery import Celery, signals
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trustfabric.settings")

app = Celery("trustfabric")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Worker and beat keep Django's LOGGING (JSON lines, redaction) instead of their own.
app.conf.worker_hijack_root_logger = False

app.conf.beat_schedule = {
    "jit-sweep-every-minute": {"task": "jit.sweep_all", "schedule": 60.0},
    "jit-outbox-sweep-every-minute": {"task": "jit.outbox_sweep", "schedule": 60.0},
    # Pilot appeals: reminder and escalation under the SLA (TF_PILOT_APPEAL_*_HOURS).
    "pilot-appeals-sweep-every-minute": {"task": "pilots.appeals_sweep", "schedule": 60.0},
    "pcq-verification-sweep-every-minute": {"task": "provenance.verification_sweep", "schedule": 60.0},
    "audit-chain-verify-nightly": {
        "task": "core.audit_chain_verify_all",
        "schedule": crontab(hour=2, minute=17),
    },
    # Sealed ZK-TX transcripts past TF_ZK_TRANSCRIPT_RETENTION_DAYS are deleted (audited).
    "zk-purge-transcripts-daily": {"task": "zk.purge_transcripts", "schedule": crontab(hour=3, minute=41)},
    # Hourly; each tenant's digest goes out once its local Monday send hour has passed.
    "tenant-digests-hourly": {"task": "tenant_rollups.digests_due", "schedule": crontab(minute=5)},
    "audit-heads-anchor-hourly": {"task": "provenance.audit_heads_anchor", "schedule": crontab(minute=7)},
    # PCQ operations (docs/pcq-ops.md): fixtures nightly, rules swept, the weekly report on Monday.
    "pcq-fixtures-nightly": {"task": "pcq_ops.fixtures_run_all", "schedule": crontab(hour=3, minute=11)},
    "pcq-suppressions-sweep": {"task": "pcq_ops.suppressions_sweep", "schedule": 300.0},
    "pcq-weekly-report": {"task": "pcq_ops.weekly_reports", "schedule": crontab(day_of_week=1, hour=6, minute=23)},
    # Studio drift (docs/studio.md): per tenant; also applies low-risk auto-merges past their soak.
    "studio-drift-check": {"task": "policy_studio.drift_check_all", "schedule": 300.0},
    "integrity-verify-nightly": {
        "task": "provenance.integrity_verify_all",
        "schedule": crontab(hour=2, minute=37),
    },
}


# --- Logging: one configuration and one request context in every process ------------------

# Message headers that carry the log context of whoever queued a task into the worker.
LOG_CONTEXT_HEADERS = {"request_id": "tf_request_id", "tenant_id": "tf_tenant_id"}


@signals.setup_logging.connect
def _use_django_logging(**_: Any) -> None:
    """Celery calls this instead of configuring logging itself (worker and beat alike): apply
    Django's LOGGING, so every process writes the same JSON lines through the same filters."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.celeryd_after_setup.connect
def _banner_as_a_log_line(sender: str | None = None, instance: Any = None, **_: Any) -> None:
    """The worker's start-up banner is plain text on stdout; log its facts as one JSON line."""
    import logging

    if instance is None:
        return
    instance.quiet = True
    queues = sorted(q.name for q in instance.app.amqp.queues.consume_from.values())
    logging.getLogger("celery.worker").info("worker starting", extra={"hostname": sender, "queues": queues})


@signals.before_task_publish.connect
def _carry_log_context(headers: dict | None = None, **_: Any) -> None:
    """The request (or task) that queues a task hands its request id and tenant id on."""
    from apps.core.logging import current_log_context

    if headers is None:
        return
    context = current_log_context()
    for key, header in LOG_CONTEXT_HEADERS.items():
        if context.get(key) is not None and header not in headers:
            headers[header] = context[key]


@signals.task_prerun.connect
def _bind_task_log_context(task: Any = None, task_id: str | None = None, **_: Any) -> None:
    import logging

    import structlog

    from apps.core.logging import bind_log_context

    request = getattr(task, "request", None)
    if getattr(request, "is_eager", False):
        return  # runs inside the caller (embedded profile): its context already applies
    structlog.contextvars.clear_contextvars()
    values = {key: getattr(request, header, None) for key, header in LOG_CONTEXT_HEADERS.items()}
    bind_log_context(task_id=task_id, task=getattr(task, "name", None), **{k: v for k, v in values.items() if v})
    # One line per task start ties it to the request that queued it (same request_id).
    logging.getLogger("trustfabric.task").info("task started")


@signals.task_postrun.connect
def _clear_task_log_context(task: Any = None, **_: Any) -> None:
    import structlog

    if not getattr(getattr(task, "request", None), "is_eager", False):
        structlog.contextvars.clear_contextvars()
