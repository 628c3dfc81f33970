"""Verify a ZK-TX bundle offline — no Django, no database, no network.

    python -m apps.zk_proofs.offline verify bundle.json [--server-key KEY] [--transcript t.json]

The downloaded bundle is canonical JSON (RFC 8785 style), so any changed byte is caught: a
change in content breaks the digest or a signature, a change in form breaks canonicality.
L1 (always): header digest, the server's Ed25519 signature, both tenants' Schnorr signatures.
L2 (with an operator-exported transcript): every Merkle root recomputed, every point validated,
every chunk's DLEQ proof verified with the pure-Python reference backend, and the overlap
recounted. Exit status 0 = verified.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from apps.provenance.pcq.canonical import canonicalize

from .zk.bundle import verify_l1, verify_l2


def verify_file(
    data: bytes, server_key: str | None = None, transcript: dict | None = None, backend: str = "py_ecc"
) -> list[str]:
    try:
        bundle = json.loads(data)
    except ValueError:
        return ["the file is not JSON"]
    if canonicalize(bundle) != data:
        return ["the file is not in canonical form (its bytes were changed)"]
    if bundle.get("explainer") != bundle.get("header", {}).get("explainer"):
        return ["the explainer differs from the signed one in the header"]
    key = server_key or bundle.get("server_public_key", "")
    try:
        return verify_l2(bundle, transcript, key, backend) if transcript else verify_l1(bundle, key)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"the bundle is malformed: {exc}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.zk_proofs.offline")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify")
    v.add_argument("bundle", type=Path)
    v.add_argument("--server-key", help="pin the server's public key (base64) instead of trusting the bundle's")
    v.add_argument("--transcript", type=Path, help="operator-exported transcript: enables the L2 audit")
    args = parser.parse_args(argv)
    transcript = json.loads(args.transcript.read_text()) if args.transcript else None
    problems = verify_file(args.bundle.read_bytes(), args.server_key, transcript)
    bundle = json.loads(args.bundle.read_bytes()) if not problems or "canonical" not in problems[0] else {}
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        h = bundle["header"]
        level = "L2" if transcript else "L1"
        print(
            f"VERIFIED ({level}): overlap \u2264 {h['k']} is {h['verdict']}"
            + (f", count {h['count']}" if "count" in h else "")
        )
        if not args.server_key:
            print("note: the server key was taken from the bundle; pin it with --server-key")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
