"""Thin Celery task: the appeals SLA sweep (beat, every minute)."""

from __future__ import annotations

from celery import shared_task

from . import appeals


@shared_task(name="pilots.appeals_sweep", time_limit=120, soft_time_limit=100)
def appeals_sweep() -> dict[str, int]:
    return appeals.sweep()
