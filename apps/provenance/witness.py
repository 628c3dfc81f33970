"""The witness: co-sign a verified manifest's verdict in one DSSE envelope."""

from __future__ import annotations

from typing import Any

from apps.core.crypto.canonical import canonicalize, digest
from apps.core.crypto.signing import Signer, envelope


def statement(
    *,
    manifest_digest: str,
    query_run: int,
    tenant: str,
    verified_at: str,
    verifier_evidence: Any,
    witness_evidence: Any,
) -> dict[str, Any]:
    return {
        "type": "trustfabric/pcq-verdict/v1",
        "manifest_digest": manifest_digest,
        "query_run": query_run,
        "tenant": tenant,
        "verdict": "match",
        "verified_at": verified_at,
        "attestation_mode": "sim",
        "verifier_attestation": digest(verifier_evidence),
        "witness_attestation": digest(witness_evidence),
    }


def cosign(payload: dict[str, Any], verifier: Signer, witness: Signer) -> dict[str, Any]:
    return envelope(canonicalize(payload), [verifier, witness])
