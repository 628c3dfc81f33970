"""The witness: co-sign a verified manifest's verdict in one DSSE envelope."""

from __future__ import annotations

from typing import Any

from apps.core.crypto.canonical import canonicalize, digest
from apps.core.crypto.signing import Signer, envelope

V1 = "trustfabric/pcq-verdict/v1"
V2 = "trustfabric/pcq-verdict/v2"
# What the evidence page and API show of a verification besides its verdict. v2 statements
# bind a digest of each, so a stored row edited afterwards no longer matches its envelope;
# v1 statements (before) bind only the verdict, the manifest and the attestation evidence.
SHOWN_FIELDS = ("message", "diff", "verifier_result", "witness_result", "replay_ms")


def shown_digests(values: dict[str, Any]) -> dict[str, str]:
    return {field: digest(values[field]) for field in SHOWN_FIELDS}


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
