"""The Celery app. Periodic schedules are declared here, in code; django-celery-beat's
DatabaseScheduler copies them into the database so operators can see and pause them."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trustfabric.settings")

app = Celery("trustfabric")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "jit-sweep-every-minute": {"task": "jit.sweep_all", "schedule": 60.0},
    "pcq-verification-sweep-every-minute": {"task": "provenance.verification_sweep", "schedule": 60.0},
    "audit-chain-verify-nightly": {
        "task": "core.audit_chain_verify_all",
        "schedule": crontab(hour=2, minute=17),
    },
    "audit-heads-anchor-hourly": {"task": "provenance.audit_heads_anchor", "schedule": crontab(minute=7)},
    "integrity-verify-nightly": {
        "task": "provenance.integrity_verify_all",
        "schedule": crontab(hour=2, minute=37),
    },
}
