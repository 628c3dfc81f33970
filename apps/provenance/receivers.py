"""Every executed query gets a signed manifest (in the pipeline's transaction) and a queued
verification (run by a Celery worker after commit). Registered as the pipeline's manifest
recorder (apps.queries.hooks) in ProvenanceConfig.ready."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from . import services


def sign_and_queue(run: Any, execution: Any, steps: list[Any]) -> None:
    # pcq_ops (issue 16): sampled replays. The sampler (PCQ_REPLAY_SAMPLER, above this app in
    # the layer order) decides; the decision is signed into the manifest; an unsampled run is
    # signed and logged in the audit chain but not replayed.
    sampling = import_string(settings.PCQ_REPLAY_SAMPLER)(run) if settings.PCQ_REPLAY_SAMPLER else None
    manifest = services.manifest_create(run, execution, steps, sampling)
    if sampling is None or sampling["replayed"]:
        services.verification_request(manifest)
