"""The two attested components and their measurements (simulated TEE, mode ``sim``).

A component's measurement covers the code that decides its verdict and the configuration
that shapes it. Changing any of these files changes the measurement; until the reference
values are updated (``manage.py attest_preflight --update``, a reviewed release step) the
component's attestation is contraindicated and nothing it verifies is witnessed or logged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.core.keys import signer

from .pcq import attestation
from .pcq.attestation import SimulatedTEE
from .pcq.manifest import TOLERANCES

ROOT = Path(settings.BASE_DIR)
COMPONENTS: dict[str, list[str]] = {
    "verifier": [
        "apps/core/crypto/*.py",
        "apps/provenance/pcq/*.py",
        "apps/provenance/verifier.py",
        "apps/graphs/engine.py",
        "apps/graphs/ingest.py",
        "apps/graphs/stats.py",
        "apps/policy_studio/lac/minimize.py",
    ],
    "witness": ["apps/core/crypto/*.py", "apps/provenance/pcq/*.py", "apps/provenance/witness.py"],
}
CONFIG: dict[str, Any] = {"tolerances": TOLERANCES, "freshness_seconds": attestation.FRESHNESS_SECONDS}


def files_of(component: str) -> list[Path]:
    out: list[Path] = []
    for pattern in COMPONENTS[component]:
        out.extend(sorted(ROOT.glob(pattern)))
    return out


def measurement(component: str) -> str:
    return attestation.measure(files_of(component), {"component": component, **CONFIG}, ROOT)


def reference_values() -> dict[str, str]:
    path = Path(settings.PCQ_REFERENCE_VALUES)
    if not path.exists():
        return {}
    return attestation.reference_values(path)


def write_reference_values(path: Path | None = None) -> dict[str, str]:
    values = {c: measurement(c) for c in COMPONENTS}
    target = path or Path(settings.PCQ_REFERENCE_VALUES)
    target.write_text(json.dumps({"mode": attestation.MODE, "measurements": values}, indent=2, sort_keys=True) + "\n")
    return values


def tee() -> SimulatedTEE:
    return SimulatedTEE(signer("tee_device"))


def attest(component: str, nonce: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evidence for ``component`` bound to ``nonce``, and its appraisal."""
    evidence = tee().evidence(component, measurement(component), nonce)
    result = attestation.appraise(
        evidence, component=component, nonce=nonce, reference=reference_values(), device_key=signer("tee_device").public
    )
    return evidence, result
