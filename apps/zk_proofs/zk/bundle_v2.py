"""ZK-TX v2 bundles (pure; shared by the server and the offline verifier).

A v2 bundle is exactly ``{"header": …, "server_signature": …}`` in RFC 8785 canonical JSON.
Everything but the server signature is inside the signed header: tenant signatures, tenant
long-term keys and fingerprints, the countersigned statement, the server key id, the
explainer. The shape is closed (no unknown or missing key anywhere), every scalar, point and
digest has one spelling, and keys are checked against a **pinned** trust file, never against
keys the bundle carries.

L1: schema, canonical bytes, the pinned server key's signature, both tenants' round-1 Schnorr
signatures (session keys), the statement matching the header, both statement signatures with
pinned tenant keys. L2 adds, from a transcript: every root, every point, every DLEQ, the count.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from apps.core.crypto.canonical import canonicalize as jcs
from apps.core.crypto.merkle import leaf_hash, root_of

from . import group, sswu, v2
from .bundle import recount_problems

TYPE = "trustfabric/zktx-bundle/v2"
TRUST_TYPE = "trustfabric/zktx-trust/v1"
SERVER_CONTEXT = b"TrustFabric ZK-TX v2 bundle\n"
NOT_PINNED = "not verified: server key not pinned"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_B64_KEY = re.compile(r"[A-Za-z0-9+/]{43}=")
_B64_SIG = re.compile(r"[A-Za-z0-9+/]{86}==")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


def _re(rx: re.Pattern[str]) -> Any:
    return lambda v: isinstance(v, str) and rx.fullmatch(v) is not None


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10**9


def _is_point(v: Any) -> bool:
    try:
        v2.parse_point_hex(v)
    except ValueError:
        return False
    return True


def _is_scalar(v: Any) -> bool:
    try:
        v2.parse_scalar(v)
    except ValueError:
        return False
    return True


_PROOF = {"c": _is_scalar, "s": _is_scalar}
_ROOTS = {"round1": _re(_HEX64), "round2": _re(_HEX64)}
_TENANT = {
    "tenant": _re(_SLUG),
    "key": _is_point,
    "padded_size": _int,
    "round1_root": _re(_HEX64),
    "round2_root": _re(_HEX64),
    "proofs_digest": _re(_HEX64),
    "round1_signature": _PROOF,
    "tenant_key": _re(_B64_KEY),
    "tenant_key_fingerprint": _re(_HEX64),
    "statement_signature": _re(_B64_SIG),
}
_STATEMENT = {
    "type": lambda v: v == "trustfabric/zktx-statement/v2",
    "suite": lambda v: v == v2.SUITE,
    "session": _re(_UUID),
    "k": _int,
    "disclosure": lambda v: v in ("verdict", "verdict_and_count"),
    "selector_type": lambda v: v in ("phone", "email", "account"),
    "tenants": {"A": _re(_SLUG), "B": _re(_SLUG)},
    "keys": {"A": _is_point, "B": _is_point},
    "padded_sizes": {"A": _int, "B": _int},
    "roots": {"A": _ROOTS, "B": _ROOTS},
}
_HEADER = {
    "type": lambda v: v == TYPE,
    "suite": lambda v: v == v2.SUITE,
    "hash_to_curve": lambda v: v == sswu.SUITE,
    "session": _re(_UUID),
    "k": _int,
    "disclosure": lambda v: v in ("verdict", "verdict_and_count"),
    "selector_type": lambda v: v in ("phone", "email", "account"),
    "verdict": lambda v: isinstance(v, bool),
    "count": _int,
    "issued_at": _re(_TIME),
    "tenants": {"A": _TENANT, "B": _TENANT},
    "statement": _STATEMENT,
    "server_key_id": _re(_KEY_ID),
    "explainer": lambda v: isinstance(v, str) and 0 < len(v) < 20_000,
}
_OPTIONAL = {"count"}


def schema_problems(value: Any, spec: Any = None, path: str = "") -> list[str]:
    """Closed-schema check: exactly the known keys, each of the expected form."""
    if spec is None:
        if not isinstance(value, dict) or set(value) != {"header", "server_signature"}:
            return ["a v2 bundle is exactly {header, server_signature}"]
        problems = [] if _re(_B64_SIG)(value["server_signature"]) else ["server_signature is malformed"]
        return problems + schema_problems(value["header"], _HEADER, "header")
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{path} must be an object"]
        optional = _OPTIONAL if spec is _HEADER else set()
        extra, missing = set(value) - set(spec), set(spec) - set(value) - optional
        problems = [f"{path}.{k} is not allowed" for k in sorted(extra)]
        problems += [f"{path}.{k} is missing" for k in sorted(missing)]
        for key, sub in spec.items():
            if key in value:
                problems += schema_problems(value[key], sub, f"{path}.{key}")
        return problems
    return [] if spec(value) else [f"{path} is malformed"]


_SIGNATURE_OK = _re(_B64_SIG)
_BUNDLE_KEYS = frozenset({"header", "server_signature"})


def schema_ok(value: Any, spec: Any = None) -> bool:
    """``not schema_problems(value)``, without building the problem list: the L0 check's
    form test, which runs on every bundle handed back."""
    if spec is None:
        return (
            isinstance(value, dict)
            and value.keys() == _BUNDLE_KEYS
            and _SIGNATURE_OK(value["server_signature"])
            and schema_ok(value["header"], _HEADER)
        )
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return False
        keys = value.keys()
        if spec is _HEADER:
            if not (keys <= spec.keys() and spec.keys() - _OPTIONAL <= keys):
                return False
        elif keys != spec.keys():
            return False
        return all(schema_ok(value[key], sub) for key, sub in spec.items() if key in value)
    return bool(spec(value))


def header_digest(header: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(jcs(header)).hexdigest()


def server_message(header: dict[str, Any]) -> bytes:
    return SERVER_CONTEXT + jcs(header)


def chunks_root(chunks: list[list[str]]) -> str:
    """Merkle root (RFC 9162) over the chunks, one leaf per chunk's canonical JSON."""
    return root_of([leaf_hash(jcs(c)) for c in chunks]).hex()


def proofs_digest(chunk_proofs: list[dict[str, str]]) -> str:
    import hashlib

    return hashlib.sha256(jcs(chunk_proofs)).hexdigest()


def statement_of(header: dict[str, Any]) -> dict[str, Any]:
    """The statement the header's own fields imply (it must equal the signed one)."""
    t = header["tenants"]
    return v2.statement(
        session=header["session"],
        k=header["k"],
        disclosure=header["disclosure"],
        selector_type=header["selector_type"],
        tenants={r: t[r]["tenant"] for r in v2.ROLES},
        keys={r: t[r]["key"] for r in v2.ROLES},
        padded_sizes={r: t[r]["padded_size"] for r in v2.ROLES},
        roots={r: {"round1": t[r]["round1_root"], "round2": t[r]["round2_root"]} for r in v2.ROLES},
    )


def ed25519_verify(public_b64: str, signature_b64: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True)).verify(
            base64.b64decode(signature_b64, validate=True), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def load_trust(data: dict[str, Any]) -> dict[str, Any]:
    """A trust file: {type, server_keys: [{key_id, public_key, fingerprint}], tenant_keys: [...]}."""
    if not isinstance(data, dict) or data.get("type") != TRUST_TYPE:
        raise ValueError("not a ZK-TX trust file")
    servers = {k["key_id"]: k["public_key"] for k in data.get("server_keys", [])}
    tenants = {k["fingerprint"]: k for k in data.get("tenant_keys", [])}
    for fp, k in tenants.items():
        if v2.fingerprint(base64.b64decode(k["public_key"])) != fp:
            raise ValueError("a tenant key in the trust file does not match its fingerprint")
    return {"server_keys": servers, "tenant_keys": tenants}


def parse_strict(data: bytes) -> Any:
    """JSON with duplicate keys refused (a duplicate would let two readers see two bundles)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    return json.loads(data, object_pairs_hook=no_duplicates)


def verify_l1(bundle: dict[str, Any], trust: dict[str, Any] | None) -> list[str]:
    problems = schema_problems(bundle)
    if problems:
        return problems
    header = bundle["header"]
    if not trust or header["server_key_id"] not in trust["server_keys"]:
        return [NOT_PINNED]
    if not ed25519_verify(
        trust["server_keys"][header["server_key_id"]], bundle["server_signature"], server_message(header)
    ):
        problems.append("server signature does not verify with the pinned server key")
    if header["statement"] != statement_of(header):
        problems.append("the countersigned statement differs from the header")
    if "count" in header and header["disclosure"] != "verdict_and_count":
        problems.append("a count is present although the disclosure is verdict only")
    b = group.backend()
    for role in v2.ROLES:
        t = header["tenants"][role]
        message = v2.round1_message(header["session"], role, t["tenant"], t["key"], t["round1_root"], t["padded_size"])
        if not v2.verify_signature(b, bytes.fromhex(t["key"]), v2.Proof.from_dict(t["round1_signature"]), message):
            problems.append(f"tenant {role}'s round-1 signature does not verify with its session key")
        pinned = trust["tenant_keys"].get(t["tenant_key_fingerprint"])
        if pinned is None or pinned.get("tenant") != t["tenant"] or pinned["public_key"] != t["tenant_key"]:
            problems.append(f"not verified: tenant {t['tenant']}'s long-term key is not pinned")
        elif not ed25519_verify(
            pinned["public_key"], t["statement_signature"], v2.statement_bytes(header["statement"])
        ):
            problems.append(f"tenant {role}'s countersignature does not verify with its pinned long-term key")
    return problems


def verify_l2(
    bundle: dict[str, Any], transcript: dict[str, Any], trust: dict[str, Any] | None, backend: str = "py_ecc"
) -> list[str]:
    """Full audit from an operator-exported transcript ({"A": {round1, round2}, "B": …})."""
    problems = verify_l1(bundle, trust)
    if problems[:1] == [NOT_PINNED] or any("is not allowed" in p or "is missing" in p for p in problems):
        return problems
    header = bundle["header"]
    b = group.backend(backend)
    for role, other in (("A", "B"), ("B", "A")):
        t, mine, theirs = header["tenants"][role], transcript[role], transcript[other]
        if chunks_root(mine["round1"]["chunks"]) != t["round1_root"]:
            problems.append(f"tenant {role}'s round-1 root does not match the transcript")
        if chunks_root(mine["round2"]["chunks"]) != t["round2_root"]:
            problems.append(f"tenant {role}'s round-2 root does not match the transcript")
        if proofs_digest(mine["round2"]["proofs"]) != t["proofs_digest"]:
            problems.append(f"tenant {role}'s proofs do not match the signed digest")
        key, other_key = bytes.fromhex(t["key"]), bytes.fromhex(header["tenants"][other]["key"])
        for index, (us, vs, proof) in enumerate(
            zip(theirs["round1"]["chunks"], mine["round2"]["chunks"], mine["round2"]["proofs"], strict=True)
        ):
            try:
                pts_u = [b.validate(v2.parse_point_hex(u)) for u in us]
                pts_v = [b.validate(v2.parse_point_hex(v)) for v in vs]
                parsed = v2.Proof.from_dict(proof)
            except ValueError:
                problems.append(f"tenant {role}'s chunk {index} holds an invalid point or proof")
                continue
            if not v2.verify_dleq_ref(b, key, other_key, pts_u, pts_v, parsed, header["session"], index, role):
                problems.append(f"tenant {role}'s DLEQ proof for chunk {index} does not verify")
    return problems + recount_problems(transcript, header)
