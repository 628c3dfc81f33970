"""Evidence bundles: a deterministic tar.gz an auditor can verify offline (pure).

Members: manifest.json, envelope.json, attestation.json, verdict.json, inclusion-proof.json,
checkpoint.txt, inputs.json, keys.json, README.txt. verdict.json (the verdict message, replay
diff and replay time) was added later: bundles without it keep verifying (``LEGACY_MEMBERS``);
with a v2 envelope, what either layout carries is re-checked against the digests it binds. The archive is written with fixed
metadata (gzip mtime 0, tar mtime 0, uid/gid 0), so the same evidence always gives the same
bytes, and the verifier refuses any other gzip header: together with gzip's CRC over the
whole tar, that makes every changed byte detectable.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct
import tarfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.core.crypto import checkpoint, merkle
from apps.core.crypto.canonical import canonicalize, digest
from apps.core.crypto.signing import key_id, load_public, verify, verify_envelope

from . import attestation, manifest, verdict

MEMBERS = (
    "README.txt",
    "manifest.json",
    "envelope.json",
    "attestation.json",
    "verdict.json",
    "inclusion-proof.json",
    "checkpoint.txt",
    "inputs.json",
    "keys.json",
)
LEGACY_MEMBERS = tuple(m for m in MEMBERS if m != "verdict.json")  # bundles exported before verdict.json
REQUIRED_ROLES = ("executor", "verifier", "witness", "tee_device", "log")  # every key a bundle's checks use
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
README = """Trust Fabric evidence bundle (PCQ).

Verify offline, with no database and no network:

    python -m apps.provenance.offline verify <this file> --keys trusted-keys.json

The keys are always pinned: trusted-keys.json is GET /api/pcq/keys/ (check its fingerprints\nout of band); the bundle's own keys.json is never trusted.

Attestation in this build is SIMULATED (mode "sim"): it shows which code and configuration
produced the verdict, bound to this manifest, signed by a software device key. It is not
evidence of hardware isolation.
"""


def build(files: dict[str, Any]) -> bytes:
    """``files`` maps member name -> JSON-able value or text (without ``verdict.json``: the
    legacy layout, as bundles were exported before it)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in MEMBERS if "verdict.json" in files else LEGACY_MEMBERS:
            value = README if name == "README.txt" else files[name]
            # JSON members are RFC 8785 (older bundles were indented JSON and still verify).
            data = value.encode() if isinstance(value, str) else canonicalize(value)
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return _gzip(raw.getvalue())


def _gzip(data: bytes) -> bytes:
    """gzip with a fixed header (no name, mtime 0, OS unknown), the same on every platform."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(data) + deflate.flush()
    return GZIP_HEADER + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


@dataclass
class Report:
    checks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, message: str) -> bool:
        self.checks.append({"check": name, "ok": ok, "message": message})
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["ok"]]


def _read(data: bytes, report: Report) -> dict[str, bytes] | None:
    if data[:10] != GZIP_HEADER:
        report.check("archive", False, "not a Trust Fabric bundle: the gzip header differs from the canonical one")
        return None
    try:
        raw = gzip.decompress(data)
        if _gzip(raw) != data:
            # Same content, different bytes (e.g. an equivalent deflate encoding): still a change.
            report.check("archive", False, "the archive is not in canonical form (its bytes were changed)")
            return None
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            members = {m.name: m for m in tar.getmembers()}
            if tuple(members) not in (MEMBERS, LEGACY_MEMBERS):
                report.check("archive", False, f"unexpected members: {sorted(members)}")
                return None
            out = {}
            for name, info in members.items():
                if not info.isfile() or info.mtime != 0:
                    report.check("archive", False, f"member {name} has non-canonical metadata")
                    return None
                out[name] = tar.extractfile(info).read()  # type: ignore[union-attr]
    except (OSError, EOFError, zlib.error, tarfile.TarError, gzip.BadGzipFile) as exc:
        report.check("archive", False, f"the archive is damaged: {exc}")
        return None
    report.check("archive", True, "canonical tar.gz with the expected members")
    return out


def verify_bundle(data: bytes, trusted_keys: dict[str, str] | None = None) -> Report:
    report = Report()
    files = _read(data, report)
    if files is None:
        return report
    try:
        signed = json.loads(files["manifest.json"])
        env = json.loads(files["envelope.json"])
        att = json.loads(files["attestation.json"])
        proof = json.loads(files["inclusion-proof.json"])
        inputs = json.loads(files["inputs.json"])
        keys_b64 = json.loads(files["keys.json"])
        note = files["checkpoint.txt"].decode()
        shown = json.loads(files["verdict.json"]) if "verdict.json" in files else None
        if not isinstance(keys_b64, dict):
            raise TypeError("keys.json is not an object")
        if not isinstance(att, dict) or not (shown is None or isinstance(shown, dict)):
            raise TypeError("attestation.json or verdict.json is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        report.check("contents", False, f"a member is not valid JSON or a key is malformed: {exc}")
        return report
    # Keys are always pinned: every signature is checked against the trusted keys, never against
    # the bundle's own keys.json (a forger re-signs everything and ships their own keys).
    keys, problem = _pinned(trusted_keys)
    if problem:
        report.check("trusted keys", False, f"not verified: {problem}")
        return report
    mismatched = sorted(r for r in REQUIRED_ROLES if keys_b64.get(r) != trusted_keys[r])  # type: ignore[index]
    report.check(
        "trusted keys",
        not mismatched,
        "bundle keys match the pinned keys"
        if not mismatched
        else f"the bundle's keys differ from the pinned ones: {mismatched}",
    )

    body = signed.get("manifest")
    manifest_digest = _check_manifest(report, signed, keys)
    statement = _check_envelope(report, env, keys, manifest_digest)
    _check_attestations(report, att, statement, keys, manifest_digest)
    _check_shown(report, statement, att, shown)
    _check_inclusion(report, env, note, proof, keys)
    report.check(
        "inputs",
        inputs == (body or {}).get("inputs"),
        "input hashes match the manifest"
        if inputs == (body or {}).get("inputs")
        else "inputs.json differs from the manifest's inputs",
    )
    return report


def _check_manifest(report: Report, signed: dict[str, Any], keys: dict[str, Any]) -> str:
    """Schema and executor signature; returns the manifest's digest ("" when missing)."""
    body = signed.get("manifest")
    try:
        manifest.validate(body)
        report.check("manifest schema", True, "the manifest validates against the published schema")
    except manifest.ManifestInvalid as exc:
        report.check("manifest schema", False, f"the manifest does not validate: {exc}")
    manifest_digest = manifest.body_digest(body) if body is not None else ""
    report.check(
        "manifest signature",
        verify(keys["executor"], signed.get("signature", ""), manifest.body_bytes(body)) if body is not None else False,
        "signed by the executor key" if body is not None else "missing manifest",
    )
    if report.checks[-1]["ok"] is False:
        report.checks[-1]["message"] = (
            "the manifest's executor signature does not verify (manifest altered or signature forged)"
        )
    return manifest_digest


def _check_envelope(report: Report, env: Any, keys: dict[str, Any], manifest_digest: str) -> dict[str, Any]:
    """Verifier and witness co-signatures, and that the envelope vouches this manifest;
    returns the envelope's statement ({} when unreadable)."""
    kid = {role: _kid(k) for role, k in keys.items()}
    env_problems = verify_envelope(
        env, {kid["verifier"]: keys["verifier"], kid["witness"]: keys["witness"]}, [kid["verifier"], kid["witness"]]
    )
    report.check(
        "envelope signatures",
        not env_problems,
        "co-signed by the verifier and the witness" if not env_problems else "; ".join(env_problems),
    )
    try:
        statement: dict[str, Any] = json.loads(base64.b64decode(env["payload"]))
    except (ValueError, KeyError):
        statement = {}
    report.check(
        "envelope subject",
        statement.get("manifest_digest") == manifest_digest and statement.get("verdict") == "match",
        "the envelope vouches a match for this manifest"
        if statement.get("manifest_digest") == manifest_digest
        else "the envelope names a different manifest digest",
    )
    return statement


def _check_attestations(
    report: Report, att: dict[str, Any], statement: dict[str, Any], keys: dict[str, Any], manifest_digest: str
) -> None:
    verified_at = statement.get("verified_at")
    reference = att.get("reference_values", {})
    for component in ("verifier", "witness"):
        part = att.get(component, {})
        try:
            when = datetime.fromisoformat(verified_at) if verified_at else None
        except ValueError:
            when = None
        result = attestation.appraise(
            part.get("evidence"),
            component=component,
            nonce=manifest_digest,
            reference=reference,
            device_key=keys["tee_device"],
            now=when,
        )
        bound = statement.get(f"{component}_attestation") == digest(part.get("evidence"))
        ok = result["status"] == "affirming" and bound
        reasons = result["reasons"] + ([] if bound else ["the envelope does not bind this evidence"])
        report.check(f"{component} attestation (sim)", ok, "affirming (simulated TEE)" if ok else "; ".join(reasons))


def _check_inclusion(report: Report, env: Any, note: str, proof: Any, keys: dict[str, Any]) -> None:
    leaf = merkle.leaf_hash(canonicalize(env))
    try:
        cp = checkpoint.parse_and_verify(note, keys["log"])
        report.check("checkpoint signature", True, f"signed by the log key at tree size {cp.size}")
        root = merkle.root_from_inclusion(
            proof["leaf_index"], proof["tree_size"], leaf, [bytes.fromhex(h) for h in proof["hashes"]]
        )
        included = root == cp.root and proof["tree_size"] == cp.size
        report.check(
            "inclusion proof",
            included,
            f"leaf {proof['leaf_index']} is in the log of size {cp.size}"
            if included
            else "the inclusion proof does not lead to the checkpoint's root (entry or log altered)",
        )
    except checkpoint.CheckpointError as exc:
        report.check("checkpoint signature", False, str(exc))
    except (ValueError, KeyError) as exc:
        report.check("inclusion proof", False, f"the inclusion proof is malformed: {exc}")


def _check_shown(report: Report, statement: dict[str, Any], att: dict[str, Any], shown: Any) -> None:
    """A v2 envelope binds a digest of the verdict message, replay diff, both attestation
    results and the replay time: every one the bundle carries must match (an edited bundle
    fails, naming the field). v1 envelopes bind none of them."""
    if statement.get("type") != verdict.V2:
        report.warnings.append(
            "the envelope is v1: it binds the verdict, the manifest and the attestation evidence, "
            "not the verdict message, replay diff, attestation results or replay time"
        )
        return
    values = {f"{c}_result": (att.get(c) or {}).get("result") for c in ("verifier", "witness")}
    if shown is None:
        report.warnings.append(
            "this bundle predates verdict.json: its verdict message, replay diff and replay time are not included"
        )
    else:
        values |= {field: shown.get(field) for field in ("message", "diff", "replay_ms")}
    edited = verdict.shown_mismatches(statement, values)
    report.check(
        "verdict details",
        not edited,
        "the attestation results"
        + (", verdict message, replay diff and replay time" if shown is not None else "")
        + " match the digests the envelope binds"
        if not edited
        else "; ".join(
            f"the bundle's {verdict.SHOWN_LABELS[f]} differs from the one the envelope binds (edited after witnessing)"
            for f in edited
        ),
    )


def _pinned(trusted_keys: Any) -> tuple[dict[str, Any], str]:
    """The pinned public keys for every role the bundle's signatures need, or a problem."""
    if trusted_keys is None:
        return (
            {},
            f"{', '.join(REQUIRED_ROLES)} key not pinned (pass --keys trusted-keys.json, from GET /api/pcq/keys/)",
        )
    if not isinstance(trusted_keys, dict):
        return (
            {},
            f"the pin file is not a JSON object of role -> base64 key; {', '.join(REQUIRED_ROLES)} key not pinned",
        )
    missing = [r for r in REQUIRED_ROLES if r not in trusted_keys]
    if missing:
        return {}, f"{', '.join(missing)} key not pinned (the pin file must cover every role)"
    keys = {}
    for role in REQUIRED_ROLES:
        try:
            if not isinstance(trusted_keys[role], str):
                raise TypeError("not a string")
            keys[role] = load_public(trusted_keys[role])
        except (ValueError, TypeError) as exc:
            return {}, f"the pinned {role} key is malformed ({exc}); {role} key not pinned"
    return keys, ""


def _kid(key: Any) -> str:
    return key_id(key)
