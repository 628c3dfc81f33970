"""The witness: co-sign a verified manifest's verdict in one DSSE envelope."""

from __future__ import annotations

from typing import Any

from apps.core.crypto.canonical import canonicalize, digest
from apps.core.crypto.signing import Signer, envelope

# What the evidence page and API show of a verification besides its verdict: v2 statements
# bind a digest of each (apps/provenance/pcq/verdict.py, shared with the offline verifier).
from .pcq.verdict import SHOWN_FIELDS, V1, V2, shown_digests

__all__ = ["SHOWN_FIELDS", "V1", "V2", "cosign", "shown_digests", "statement"]


def statement(
    *,
    manifest_digest: str,
    query_run: int,
    tenant: str,
    verified_at: str,
    verifier_evidence: Any,
    witness_evidence: Any,
    shown: dict[str, Any],
) -> dict[str, Any]:
    return {
        "type": V2,
        "manifest_digest": manifest_digest,
        "query_run": query_run,
        "tenant": tenant,
        "verdict": "match",
        "verified_at": verified_at,
        "attestation_mode": "sim",
        "verifier_attestation": digest(verifier_evidence),
        "witness_attestation": digest(witness_evidence),
        "shown": shown_digests(shown),
    }


def cosign(payload: dict[str, Any], verifier: Signer, witness: Signer) -> dict[str, Any]:
    return envelope(canonicalize(payload), [verifier, witness])
