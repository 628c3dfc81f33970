"""Verify a downloaded weekly digest offline: no Django, no database, no network.

    python -m apps.tenant_rollups.offline verify-digest digest-2026-W47.dsse.json --keys trusted-keys.json

The existing verifier (``apps.provenance.offline``) takes PCQ evidence bundles (a manifest,
attestations, replay); a digest has none of those, so it gets this subcommand, built from
the same pure parts (``apps.provenance.pcq``): the DSSE envelope is checked against the
pinned executor key, the payload must be the RFC 8785 canonical form of the document it
carries, and the envelope's leaf must be included in the transparency log under a checkpoint
signed by the pinned log key. Exit status 0 = verified, 1 = not verified.

``--keys`` is the deployment's public keys (``GET /api/pcq/keys/``); without it the keys
inside the file are used and the report says the result is not anchored to pinned keys.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import rfc8785

from apps.core.crypto import checkpoint, merkle, signing

PAYLOAD_TYPE = "application/vnd.trustfabric.tenant-digest+json"
DOCUMENT_TYPE = "trustfabric.tenant-digest"
SIGNING_ROLE = "executor"


def canonical(value: Any) -> bytes:
    return rfc8785.dumps(value)


def envelope_leaf(envelope: dict[str, Any]) -> bytes:
    """The bytes appended to the transparency log for a digest: its canonical envelope."""
    return canonical(envelope)


def verify_digest_file(data: bytes, trusted_keys: dict[str, str] | None = None) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []
    warnings: list[str] = []

    def check(name: str, ok: bool, message: str) -> bool:
        checks.append({"check": name, "ok": ok, "message": message})
        return ok

    def result(document: dict[str, Any] | None = None) -> dict[str, Any]:
        ok = bool(checks) and all(c["ok"] for c in checks)
        return {"verified": ok, "checks": checks, "warnings": warnings, "document": document}

    try:
        bundle = json.loads(data)
        env, log, note = bundle["envelope"], bundle["log"], bundle["checkpoint"]
    except (ValueError, KeyError, TypeError):
        check("format", False, "not a digest file (JSON with envelope, log and checkpoint)")
        return result()
    if trusted_keys is None:
        trusted_keys = bundle.get("keys", {})
        warnings.append("no --keys given: checked against the keys inside the file, not pinned keys")
    try:
        signer_key = signing.load_public(trusted_keys[SIGNING_ROLE])
        log_key = signing.load_public(trusted_keys["log"])
    except (KeyError, ValueError):
        check("keys", False, f"the trusted keys lack a valid {SIGNING_ROLE!r} or 'log' key")
        return result()

    check("payload type", env.get("payloadType") == PAYLOAD_TYPE, f"payloadType is {env.get('payloadType')!r}")
    problems = signing.verify_envelope(env, {signing.key_id(signer_key): signer_key}, [signing.key_id(signer_key)])
    check("signature", not problems, "; ".join(problems) or f"DSSE signature by {SIGNING_ROLE} key verifies")
    try:
        payload = signing.unb64(env["payload"])
        document = json.loads(payload)
    except (KeyError, ValueError):
        check("document", False, "the payload is not JSON")
        return result()
    check(
        "canonical",
        canonical(document) == payload,
        "the payload is the RFC 8785 canonical form of the document",
    )
    check("document type", document.get("type") == DOCUMENT_TYPE, f"document type is {document.get('type')!r}")

    try:
        cp = checkpoint.parse_and_verify(note, log_key)
    except checkpoint.CheckpointError as exc:
        check("checkpoint", False, str(exc))
        return result(document)
    check("checkpoint", True, f"checkpoint signed by the log key, size {cp.size}")
    try:
        index, size = int(log["leaf_index"]), int(log["tree_size"])
        proof = [bytes.fromhex(h) for h in log["hashes"]]
        root = merkle.root_from_inclusion(index, size, merkle.leaf_hash(envelope_leaf(env)), proof)
        included = size == cp.size and root == cp.root
    except (KeyError, ValueError, TypeError, IndexError):
        included = False
    check(
        "inclusion",
        included,
        "the envelope is in the log under the signed checkpoint"
        if included
        else "the inclusion proof does not lead to the signed root",
    )
    digest_hex = hashlib.sha256(payload).hexdigest()
    warnings.append(f"document sha256 {digest_hex}")
    return result(document)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.tenant_rollups.offline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify-digest", help="verify a downloaded weekly digest")
    v.add_argument("file", type=Path)
    v.add_argument("--keys", type=Path, help="JSON of trusted public keys (role -> base64), from /api/pcq/keys/")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    trusted = json.loads(args.keys.read_text()) if args.keys else None
    report = verify_digest_file(args.file.read_bytes(), trusted)
    out = sys.stdout
    if args.json:
        out.write(json.dumps({k: report[k] for k in ("verified", "checks", "warnings")}, indent=2) + "\n")
    else:
        for c in report["checks"]:
            out.write(f"{'ok  ' if c['ok'] else 'FAIL'} {c['check']}: {c['message']}" + "\n")
        for warning in report["warnings"]:
            out.write(f"note {warning}" + "\n")
        doc = report["document"] or {}
        week = doc.get("week", {}).get("label", "?")
        tenant = doc.get("tenant", {}).get("slug", "?")
        out.write((f"VERIFIED digest {tenant} {week}" if report["verified"] else "NOT VERIFIED") + "\n")
    return 0 if report["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
