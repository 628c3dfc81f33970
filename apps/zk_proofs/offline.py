"""Verify a ZK-TX bundle offline — no Django, no database, no network — against **pinned** keys.

    python -m apps.zk_proofs.offline verify bundle.json --trust zktx-trust.json [--transcript t.json]
    python -m apps.zk_proofs.offline verify old-v1-bundle.json --server-key <base64>   (v1 bundles)

The trust file is downloaded from the app (Deconfliction → Trust file, or GET /api/zk/trust/)
and checked by its fingerprints out of band. Without a pinned server key nothing is verified:
the verifier prints "not verified: server key not pinned" and exits 2. Keys carried inside a
bundle are never trusted.

v2 (``trustfabric/zktx-bundle/v2``): the file must be the RFC 8785 canonical bytes of exactly
{header, server_signature} with a closed schema; L1 checks the pinned server key's signature,
both tenants' round-1 signatures, the countersigned statement against the header and both
countersignatures with pinned tenant keys. L2 (with an operator-exported transcript) recomputes
every root, validates every point, verifies every DLEQ with the pure-Python reference backend
and recounts. v1 bundles verify with their original rules and encoding. Exit 0 = verified.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import rfc8785

from .zk import bundle as bundle_v1
from .zk import bundle_v2
from .zk.canonical_v1 import canonicalize as canonicalize_v1

NOT_PINNED = bundle_v2.NOT_PINNED


def verify_file(
    data: bytes,
    trust: dict[str, Any] | None = None,
    transcript: dict | None = None,
    backend: str = "py_ecc",
    server_key: str | None = None,
) -> list[str]:
    try:
        bundle = bundle_v2.parse_strict(data)
    except ValueError:
        return ["the file is not JSON (or repeats a key)"]
    if not isinstance(bundle, dict) or not isinstance(bundle.get("header"), dict):
        return ["the file is not a ZK-TX bundle"]
    kind = bundle["header"].get("type")
    try:
        if kind == bundle_v1.TYPE:
            return _verify_v1(data, bundle, trust, transcript, backend, server_key)
        if kind != bundle_v2.TYPE:
            return ["unknown bundle type"]
        try:
            canonical = rfc8785.dumps(bundle) == data
        except (rfc8785.CanonicalizationError, TypeError, ValueError):
            canonical = False
        if not canonical:
            return ["the file is not in RFC 8785 canonical form (its bytes were changed)"]
        if trust is None:
            return [NOT_PINNED]
        if transcript:
            return bundle_v2.verify_l2(bundle, transcript, trust, backend)
        return bundle_v2.verify_l1(bundle, trust)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"the bundle is malformed: {type(exc).__name__}"]


def _verify_v1(
    data: bytes, bundle: dict, trust: dict | None, transcript: dict | None, backend: str, server_key: str | None
) -> list[str]:
    """v1 rules, kept for bundles issued before v2 — but with the server key pinned."""
    if canonicalize_v1(bundle) != data:
        return ["the file is not in canonical form (its bytes were changed)"]
    if set(bundle) != {
        "header",
        "digest",
        "tenant_signatures",
        "server_signature",
        "server_key_id",
        "server_public_key",
        "explainer",
    }:
        return ["the v1 bundle has missing or extra top-level keys"]
    if bundle.get("explainer") != bundle["header"].get("explainer"):
        return ["the explainer differs from the signed one in the header"]
    pinned = server_key or (trust or {}).get("server_keys", {}).get(bundle.get("server_key_id"))
    if not pinned:
        return [NOT_PINNED]
    if bundle.get("server_public_key") != pinned:
        return ["the bundle names a server key other than the pinned one"]
    return (
        bundle_v1.verify_l2(bundle, transcript, pinned, backend) if transcript else bundle_v1.verify_l1(bundle, pinned)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.zk_proofs.offline")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify")
    v.add_argument("bundle", type=Path)
    v.add_argument("--trust", type=Path, help="the deployment's trust file (pinned server and tenant keys)")
    v.add_argument("--server-key", help="pin the server's public key (base64); enough for v1 bundles only")
    v.add_argument("--transcript", type=Path, help="operator-exported transcript: enables the L2 audit")
    v.add_argument("--backend", default="py_ecc", choices=["py_ecc", "coincurve"])
    args = parser.parse_args(argv)
    try:
        trust = bundle_v2.load_trust(json.loads(args.trust.read_text())) if args.trust else None
    except (ValueError, KeyError, TypeError) as exc:
        print(f"FAIL the trust file is unusable: {exc}")
        return 1
    transcript = json.loads(args.transcript.read_text()) if args.transcript else None
    data = args.bundle.read_bytes()
    problems = verify_file(data, trust, transcript, args.backend, args.server_key)
    if problems == [NOT_PINNED]:
        print(NOT_PINNED + " (pass --trust zktx-trust.json, downloaded from the app and checked by fingerprint)")
        return 2
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        return 1
    h = json.loads(data)["header"]
    level = "L2" if transcript else "L1"
    print(
        f"VERIFIED ({level}, {h['suite']}): overlap \u2264 {h['k']} is {h['verdict']}"
        + (f", count {h['count']}" if "count" in h else "")
        + " — the count is the server's, signed; see the explainer for what is proved"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
