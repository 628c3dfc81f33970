"""Every executed query gets a signed manifest (in the pipeline's transaction) and a queued
verification (run by a Celery worker after commit)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.utils.module_loading import import_string

from apps.policy_studio.pipeline import query_run_executed

from . import services


@receiver(query_run_executed)
def _sign_and_queue(sender: Any, run: Any, execution: Any, steps: list[Any], **kwargs: Any) -> None:
    # pcq_ops (issue 16): sampled replays. The sampler (PCQ_REPLAY_SAMPLER, above this app in
    # the layer order) decides; the decision is signed into the manifest; an unsampled run is
    # signed and logged in the audit chain but not replayed.
    sampling = import_string(settings.PCQ_REPLAY_SAMPLER)(run) if settings.PCQ_REPLAY_SAMPLER else None
    manifest = services.manifest_create(run, execution, steps, sampling)
    if sampling is None or sampling["replayed"]:
        services.verification_request(manifest)
