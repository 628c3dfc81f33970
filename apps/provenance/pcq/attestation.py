"""Simulated remote attestation (mode ``sim``). NOT hardware attestation.

A component (the verifier or the witness) asks the simulated TEE for *evidence* before it
acts: a measurement (SHA-256 over the component's code files and configuration), a nonce (the
digest of the manifest it is about to verify), a timestamp, signed by a device key that only
the simulated TEE holds. *Appraisal* checks evidence against reference values and yields an
attestation result: ``affirming``, ``warning`` (e.g. stale evidence) or ``contraindicated``.

What this proves: the code and configuration that produced the verdict are the ones whose
digest was approved (reference values), and the evidence is bound to this manifest. What it
does not prove: that the code ran inside real isolated hardware. The device key is a file on
the same host; anyone with root can sign evidence. `hw` mode would replace the key with a
hardware-rooted one (SEV-SNP/TDX quotes) — this build has only `sim`, and says so everywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from apps.core.crypto.canonical import canonicalize
from apps.core.crypto.signing import Signer, verify

MODE = "sim"
FRESHNESS_SECONDS = 300


def measure(files: Iterable[Path], config: dict[str, Any], root: Path) -> str:
    """Digest of the component: each file's relative path and bytes, then its configuration."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    h.update(canonicalize(config))
    return h.hexdigest()


@dataclass(frozen=True)
class SimulatedTEE:
    device: Signer

    def evidence(self, component: str, measurement: str, nonce: str, now: datetime | None = None) -> dict[str, Any]:
        claims = {
            "mode": MODE,
            "component": component,
            "measurement": measurement,
            "nonce": nonce,
            "timestamp": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "device_key_id": self.device.key_id,
        }
        return {"claims": claims, "signature": self.device.sign(canonicalize(claims))}


def appraise(
    evidence: dict[str, Any] | None,
    *,
    component: str,
    nonce: str,
    reference: dict[str, str],
    device_key: Ed25519PublicKey,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Check evidence; never raises. ``reference`` maps component name -> approved measurement."""
    reasons: list[str] = []
    if not evidence:
        return {
            "status": "contraindicated",
            "mode": MODE,
            "component": component,
            "reasons": ["no attestation evidence"],
        }
    claims = evidence.get("claims", {})
    if not verify(device_key, evidence.get("signature", ""), canonicalize(claims)):
        reasons.append("evidence signature does not verify with the TEE device key")
    if claims.get("mode") != MODE:
        reasons.append(f"unexpected mode {claims.get('mode')!r}")
    if claims.get("component") != component:
        reasons.append(f"evidence is for {claims.get('component')!r}, not {component!r}")
    if claims.get("nonce") != nonce:
        reasons.append("nonce does not match the manifest being verified")
    expected = reference.get(component)
    if expected is None:
        reasons.append(f"no reference value for {component!r}")
    elif claims.get("measurement") != expected:
        reasons.append(
            f"measurement {str(claims.get('measurement'))[:12]}… differs from the reference {expected[:12]}…"
        )
    if reasons:
        return {"status": "contraindicated", "mode": MODE, "component": component, "reasons": reasons}
    try:
        taken = datetime.fromisoformat(claims["timestamp"])
    except (KeyError, ValueError):
        return {"status": "contraindicated", "mode": MODE, "component": component, "reasons": ["bad timestamp"]}
    age = ((now or datetime.now(UTC)) - taken).total_seconds()
    if age > FRESHNESS_SECONDS or age < -60:
        return {"status": "warning", "mode": MODE, "component": component, "reasons": [f"evidence is {int(age)} s old"]}
    return {"status": "affirming", "mode": MODE, "component": component, "reasons": []}


def reference_values(path: Path) -> dict[str, str]:
    measurements: dict[str, str] = json.loads(path.read_text())["measurements"]
    return measurements
