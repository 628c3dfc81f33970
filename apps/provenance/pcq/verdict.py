"""What a witnessed verdict statement binds besides the verdict (pure; shared by the server's
integrity checks and the offline bundle verifier).

v2 statements (``trustfabric/pcq-verdict/v2``) carry ``shown``: a digest of each value the
evidence pages show of a verification — its message, replay diff, both attestation results and
the replay time. A stored row or a bundle edited afterwards no longer matches them. v1
statements bind only the verdict, the manifest and the attestation evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.core.crypto.canonical import CanonicalizationError, digest

V1 = "trustfabric/pcq-verdict/v1"
V2 = "trustfabric/pcq-verdict/v2"
SHOWN_FIELDS = ("message", "diff", "verifier_result", "witness_result", "replay_ms")
SHOWN_LABELS = {
    "message": "verdict message",
    "diff": "replay diff",
    "verifier_result": "verifier attestation result",
    "witness_result": "witness attestation result",
    "replay_ms": "replay time",
}


def shown_digests(values: Mapping[str, Any]) -> dict[str, str]:
    return {field: digest(values[field]) for field in SHOWN_FIELDS}


def shown_mismatches(statement: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """The fields of ``values`` (a subset of SHOWN_FIELDS) whose digest differs from the one
    the v2 ``statement`` binds, in SHOWN_FIELDS order. A value that cannot be canonicalized
    differs, and so does every field when the statement binds nothing."""
    bound = statement.get("shown")
    bound = bound if isinstance(bound, Mapping) else {}
    out = []
    for field in SHOWN_FIELDS:
        if field not in values:
            continue
        try:
            stored: str | None = digest(values[field])
        except (CanonicalizationError, TypeError, ValueError):
            stored = None
        if bound.get(field) != stored:
            out.append(field)
    return out
