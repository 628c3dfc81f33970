"""Issue a session's bundle: header, tenant signatures, the server's Ed25519 signature and
the explainer (what was proved, on which inputs, by whom, under which constraint, and what
was not proved)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.provenance.keys import public_keys, signer
from apps.provenance.pcq.canonical import canonicalize, digest

from .models import OverlapSession, Participation
from .zk import h2c


def explainer(header: dict[str, Any]) -> str:
    a, b = header["tenants"]["A"], header["tenants"]["B"]
    verdict = "TRUE" if header["verdict"] else "FALSE"
    count = (
        f" The overlap is {header['count']}."
        if "count" in header
        else " The count itself is not disclosed to the tenants."
    )
    return (
        f"What was proved. Tenants {a['tenant']} (key {a['key'][:16]}…) and {b['tenant']} (key {b['key'][:16]}…) each proved "
        f"possession of a fresh session key, committed to a blinded set padded to {a['padded_size']} and {b['padded_size']} "
        f"elements (Merkle roots {a['round1_root'][:16]}… and {b['round1_root'][:16]}…), and proved in zero knowledge, chunk by "
        f"chunk (batched DLEQ), that it re-blinded the other's set with that same key. Under these proofs the statement "
        f"\u201coverlap \u2264 {header['k']}\u201d is {verdict}.{count} Suite {header['suite']} (hash-to-curve {header['hash_to_curve']}), "
        f"session {header['session']}, issued {header['issued_at']} and signed by the server.\n"
        "What is not proved. That either tenant submitted its real, complete set: a tenant can substitute or shrink its input "
        "(set-size floors, k floors, quotas, fresh keys and audit are the mitigations). The result is not zero-knowledge for the "
        "server, which learns the exact count and which blinded positions matched. Low-entropy selectors such as phone numbers "
        "can be brute-forced by anyone holding a tenant's session key, which is why keys stay with the tenant and are discarded."
    )


def build_bundle(session: OverlapSession, parts: dict[str, Participation], count: int) -> dict[str, Any]:
    header: dict[str, Any] = {
        "type": "trustfabric/zktx-bundle/v1",
        "suite": session.suite,
        "hash_to_curve": h2c.SUITE,
        "session": str(session.public_id),
        "k": session.k,
        "disclosure": session.disclosure,
        "selector_type": session.selector_type,
        "verdict": count <= session.k,
        "issued_at": timezone.now().isoformat(timespec="seconds"),
        "tenants": {
            role: {
                "tenant": p.tenant.slug,
                "key": p.key,
                "padded_size": p.round1["padded_size"],
                "round1_root": p.round1_root,
                "round2_root": p.round2_root,
                "proofs_digest": digest(p.round2["proofs"]),
            }
            for role, p in parts.items()
        },
    }
    if session.disclosure == "verdict_and_count":
        header["count"] = count
    header["explainer"] = explainer(header)  # inside the header: covered by the digest and the signature
    server = signer("executor")
    return {
        "header": header,
        "digest": digest(header),
        "tenant_signatures": {role: p.round1["signature"] for role, p in parts.items()},
        "server_signature": server.sign(canonicalize(header)),
        "server_key_id": server.key_id,
        "server_public_key": public_keys()["executor"],
        "explainer": header["explainer"],
    }
