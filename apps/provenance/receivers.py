"""Every executed query gets a signed manifest (in the pipeline's transaction) and a queued
verification (run by a Celery worker after commit). Registered as the pipeline's manifest
recorder (apps.queries.hooks) in ProvenanceConfig.ready."""

from __future__ import annotations

from typing import Any

from . import services


def sign_and_queue(run: Any, execution: Any, steps: list[Any]) -> None:
    manifest = services.manifest_create(run, execution, steps)
    services.verification_request(manifest)
