"""Issue a session's v2 bundle: one signed header holding everything (tenant signatures,
tenant long-term keys, the countersigned statement, the server key id, the explainer), and
the server's Ed25519 signature over its RFC 8785 form."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.core.keys import signer

from .models import OverlapSession, Participation
from .zk import bundle_v2, sswu, v2

FLOOR_CAVEAT = (
    "The minimum set size counts padding: the server cannot tell real selectors from dummies, so a tenant "
    "that submits one real selector and fills the rest with its own dummies learns from a released count "
    "whether that one selector is in the other set. No PSI-CA can prevent this. The mitigations are that the "
    "count is released only when both pilots allow it and k is at least their count threshold, a per-pair "
    "quota on count releases, verdict-only as the default, per-pair session quotas, and the audit trail."
)


def explainer(header: dict[str, Any]) -> str:
    a, b = header["tenants"]["A"], header["tenants"]["B"]
    verdict = "TRUE" if header["verdict"] else "FALSE"
    count = (
        f" The server's count, {header['count']}, is disclosed."
        if "count" in header
        else " The count is not disclosed to the tenants (verdict only)."
    )
    return (
        f"Verdict: the server counted the overlap of the two doubly-blinded sets and signs that "
        f"\u201coverlap \u2264 {header['k']}\u201d is {verdict}.{count}\n"
        f"What the proofs show. Tenants {a['tenant']} and {b['tenant']} each proved possession of a fresh session key "
        f"(keys {a['key'][:16]}\u2026 and {b['key'][:16]}\u2026, never used in another session), committed to a blinded set "
        f"padded to {a['padded_size']} and {b['padded_size']} elements (Merkle roots {a['round1_root'][:16]}\u2026 and "
        f"{b['round1_root'][:16]}\u2026), and proved in zero knowledge, chunk by chunk (batched DLEQ with weights bound "
        f"to every point of the chunk), that it re-blinded the other's set with that same key. Both tenants countersigned, "
        f"with their registered long-term keys, a statement of the session, k = {header['k']}, the disclosure mode, "
        f"both session keys and all four roots.\n"
        "What is the server's word. The count and therefore the verdict are computed by the server and signed by it; "
        "they are not proved in zero knowledge. An auditor with the operator-exported transcript can recount them "
        "(L2 audit: every root, point and proof re-checked, the overlap recounted).\n"
        "What is not proved. That either tenant submitted its real, complete set: a tenant can shrink or substitute "
        f"its input. {FLOOR_CAVEAT} The server learns the exact count and which blinded positions matched. "
        "Low-entropy selectors such as phone numbers can be brute-forced by anyone holding a tenant's session key, "
        "which is why session keys stay with the tenant and are discarded.\n"
        f"Suite {header['suite']} (hash-to-curve {header['hash_to_curve']}), session {header['session']}, issued "
        f"{header['issued_at']}. Verify offline against the pinned trust file: "
        f"python -m apps.zk_proofs.offline verify bundle.json --trust zktx-trust.json"
    )


def build_bundle(session: OverlapSession, parts: dict[str, Participation], count: int) -> dict[str, Any]:
    server = signer("executor")
    header: dict[str, Any] = {
        "type": bundle_v2.TYPE,
        "suite": session.suite,
        "hash_to_curve": sswu.SUITE,
        "session": str(session.public_id),
        "k": session.k,
        "disclosure": session.disclosure,
        "selector_type": session.selector_type,
        "verdict": count <= session.k,
        "issued_at": timezone.now().replace(microsecond=0).isoformat(),
        "tenants": {
            role: {
                "tenant": p.tenant.slug,
                "key": p.key,
                "padded_size": p.round1["padded_size"],
                "round1_root": p.round1_root,
                "round2_root": p.round2_root,
                "proofs_digest": bundle_v2.proofs_digest(p.round2["proofs"]),
                "round1_signature": p.round1["signature"],
                "tenant_key": p.tenant_key.public_key,
                "tenant_key_fingerprint": p.tenant_key.fingerprint,
                "statement_signature": p.statement_signature,
            }
            for role, p in sorted(parts.items())
        },
        "statement": session.statement,
        "server_key_id": server.key_id,
    }
    if session.disclosure == "verdict_and_count":
        header["count"] = count
    header["explainer"] = explainer(header)
    assert header["suite"] == v2.SUITE
    return {"header": header, "server_signature": server.sign(bundle_v2.server_message(header))}
