"""Every executed query gets a signed manifest (in the pipeline's transaction) and a queued
verification (run by a Celery worker after commit)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.queries.pipeline import query_run_executed

from . import services


@receiver(query_run_executed)
def _sign_and_queue(sender: Any, run: Any, execution: Any, steps: list[Any], **kwargs: Any) -> None:
    manifest = services.manifest_create(run, execution, steps)
    services.verification_request(manifest)
