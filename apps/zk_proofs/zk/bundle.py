"""ZK-TX **v1** bundles (kept so v1 bundles stay verifiable; new sessions use ``bundle_v2``).

Verification levels: L1 checks the server's Ed25519 signature over the canonical header and
both tenants' Schnorr signatures over their round-1 commitments with their registered keys;
L2 additionally recomputes every Merkle root from the transcript, validates every point,
verifies every chunk's DLEQ proof and recounts the overlap."""

from __future__ import annotations

import json
from typing import Any

from apps.core.crypto.merkle import leaf_hash, root_of
from apps.core.crypto.signing import key_id, load_public, verify

from . import group, proofs
from .canonical_v1 import canonicalize, digest

TYPE = "trustfabric/zktx-bundle/v1"


def merkle_root(leaves: list[bytes]) -> str:
    return root_of(leaves).hex()


def chunks_root(chunks: list[list[str]]) -> str:
    return merkle_root([leaf_hash(json.dumps(c, separators=(",", ":")).encode()) for c in chunks])


def round1_message(session: str, role: str, root: str, padded_size: int) -> bytes:
    return f"zktx-round1|{proofs.SUITE}|{session}|{role}|{root}|{padded_size}".encode()


def verify_l1(bundle: dict[str, Any], server_key_b64: str) -> list[str]:
    problems = []
    header = bundle.get("header", {})
    if digest(header) != bundle.get("digest"):
        problems.append("header digest does not match")
    server_key = load_public(server_key_b64)
    if key_id(server_key) != bundle.get("server_key_id"):
        problems.append("the bundle names a different server key")
    if not verify(server_key, bundle.get("server_signature", ""), canonicalize(header)):
        problems.append("server signature does not verify")
    b = group.backend()
    for role in ("A", "B"):
        t = header.get("tenants", {}).get(role, {})
        try:
            ok = proofs.verify_signature(
                b,
                bytes.fromhex(t["key"]),
                proofs.Proof.from_dict(bundle["tenant_signatures"][role]),
                round1_message(header["session"], role, t["round1_root"], t["padded_size"]),
            )
        except (KeyError, ValueError, TypeError):
            ok = False
        if not ok:
            problems.append(f"tenant {role}'s signature does not verify with its registered key")
    return problems


def verify_l2(
    bundle: dict[str, Any], transcript: dict[str, Any], server_key_b64: str, backend: str = "py_ecc"
) -> list[str]:
    """Full audit from the transcript ({"A": {round1, round2}, "B": {...}})."""
    problems = verify_l1(bundle, server_key_b64)
    header = bundle["header"]
    b = group.backend(backend)
    for role, other in (("A", "B"), ("B", "A")):
        t, mine, theirs = header["tenants"][role], transcript[role], transcript[other]
        if chunks_root(mine["round1"]["chunks"]) != t["round1_root"]:
            problems.append(f"tenant {role}'s round-1 root does not match the transcript")
        if chunks_root(mine["round2"]["chunks"]) != t["round2_root"]:
            problems.append(f"tenant {role}'s round-2 root does not match the transcript")
        key = bytes.fromhex(t["key"])
        for index, (us, vs, proof) in enumerate(
            zip(theirs["round1"]["chunks"], mine["round2"]["chunks"], mine["round2"]["proofs"], strict=True)
        ):
            try:
                pts_u = [b.validate(bytes.fromhex(u)) for u in us]
                pts_v = [b.validate(bytes.fromhex(v)) for v in vs]
            except ValueError:
                problems.append(f"tenant {role}'s chunk {index} holds an invalid point")
                continue
            if not proofs.verify_dleq(b, key, pts_u, pts_v, proofs.Proof.from_dict(proof), header["session"], index):
                problems.append(f"tenant {role}'s DLEQ proof for chunk {index} does not verify")
    return problems + recount_problems(transcript, header)


def recount_problems(transcript: dict[str, Any], header: dict[str, Any]) -> list[str]:
    """L2's recount, the same in every suite: |V_A ∩ V_B| against the verdict and any count."""
    problems: list[str] = []
    v_a = {p for c in transcript["B"]["round2"]["chunks"] for p in c}
    v_b = {p for c in transcript["A"]["round2"]["chunks"] for p in c}
    count = len(v_a & v_b)
    if (count <= header["k"]) != header["verdict"]:
        problems.append("the recount contradicts the verdict")
    if "count" in header and header["count"] != count:
        problems.append("the recount differs from the disclosed count")
    return problems
