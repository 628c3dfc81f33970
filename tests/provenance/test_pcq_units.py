"""The pure PCQ pieces: canonical JSON, Merkle proofs, checkpoints, DSSE, attestation."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from apps.core.crypto import checkpoint, merkle
from apps.core.crypto.canonical import canonicalize
from apps.core.crypto.signing import Signer, envelope, key_id, verify_envelope
from apps.provenance.pcq import attestation, verdict


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None, "x"]}, b'{"a":[true,null,"x"],"b":1}'),
        ([1.0, 0.1, 1e-7, 1e21, -0.0, 123456789012], b"[1,0.1,1e-7,1e+21,0,123456789012]"),
        ({"\u20ac": 1, "\U0001f600": 2, "a": 3}, '{"a":3,"\u20ac":1,"\U0001f600":2}'.encode()),
        ('line\nbreak "q" \u0001', b'"line\\nbreak \\"q\\" \\u0001"'),
    ],
)
def test_canonical_json_follows_jcs(value, expected) -> None:
    assert canonicalize(value) == expected


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match=r"(?i)nan"):
        canonicalize(float("nan"))


def _reference_root(items: list[bytes]) -> bytes:
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return merkle.leaf_hash(items[0])
    k = 1 << ((len(items) - 1).bit_length() - 1)
    return merkle.node_hash(_reference_root(items[:k]), _reference_root(items[k:]))


def test_merkle_proofs_match_rfc9162_for_every_size_up_to_40() -> None:
    tree, items = merkle.MemoryTree(), []
    for i in range(40):
        items.append(f"entry {i}".encode())
        tree.append(items[-1])
        assert tree.root() == _reference_root(items)
    for size in range(1, 41):
        root = _reference_root(items[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(tree.get, index, size)
            assert merkle.root_from_inclusion(index, size, merkle.leaf_hash(items[index]), proof) == root
        for old in range(1, size + 1):
            proof = merkle.consistency_proof(tree.get, old, size)
            assert merkle.verify_consistency(old, size, _reference_root(items[:old]), root, proof)


def test_merkle_proofs_fail_for_altered_leaves_and_roots() -> None:
    tree = merkle.MemoryTree()
    for i in range(13):
        tree.append(b"%d" % i)
    proof = merkle.inclusion_proof(tree.get, 5, 13)
    assert merkle.root_from_inclusion(5, 13, merkle.leaf_hash(b"forged"), proof) != tree.root()
    consistency = merkle.consistency_proof(tree.get, 6, 13)
    assert not merkle.verify_consistency(6, 13, tree.root(6), merkle.leaf_hash(b"other root"), consistency)


def _signer(role: str = "log") -> Signer:
    return Signer(role, Ed25519PrivateKey.generate())


def test_checkpoints_verify_and_detect_tampering() -> None:
    log = _signer()
    note = checkpoint.sign(12, b"\x01" * 32, log)
    parsed = checkpoint.parse_and_verify(note, log.public)
    assert (parsed.size, parsed.root) == (12, b"\x01" * 32)
    with pytest.raises(checkpoint.CheckpointError, match="does not verify"):
        checkpoint.parse_and_verify(note.replace("\n12\n", "\n13\n"), log.public)
    with pytest.raises(checkpoint.CheckpointError, match="no signature by the log key"):
        checkpoint.parse_and_verify(note, _signer().public)


def test_dsse_envelopes_need_every_required_signature() -> None:
    verifier, witness = _signer("verifier"), _signer("witness")
    env = envelope(b'{"verdict":"match"}', [verifier, witness])
    keys = {verifier.key_id: verifier.public, witness.key_id: witness.public}
    assert verify_envelope(env, keys, [verifier.key_id, witness.key_id]) == []
    forged = {**env, "payload": env["payload"].replace("b", "c", 1)}
    assert verify_envelope(forged, keys, [verifier.key_id])
    only_one = {**env, "signatures": env["signatures"][:1]}
    assert any(
        "lacks a valid signature" in p for p in verify_envelope(only_one, keys, [verifier.key_id, witness.key_id])
    )
    assert key_id(verifier.public) == verifier.key_id


def test_attestation_appraisal() -> None:
    device = _signer("tee_device")
    tee = attestation.SimulatedTEE(device)
    reference = {"verifier": "m" * 64}
    evidence = tee.evidence("verifier", "m" * 64, "nonce-1")
    ok = attestation.appraise(
        evidence, component="verifier", nonce="nonce-1", reference=reference, device_key=device.public
    )
    assert ok == {"status": "affirming", "mode": "sim", "component": "verifier", "reasons": []}
    changed = tee.evidence("verifier", "x" * 64, "nonce-1")
    bad = attestation.appraise(
        changed, component="verifier", nonce="nonce-1", reference=reference, device_key=device.public
    )
    assert bad["status"] == "contraindicated" and "differs from the reference" in bad["reasons"][0]
    wrong_nonce = attestation.appraise(
        evidence, component="verifier", nonce="nonce-2", reference=reference, device_key=device.public
    )
    assert "nonce does not match" in wrong_nonce["reasons"][0]
    forged = {**evidence, "claims": {**evidence["claims"], "measurement": "m" * 64, "component": "witness"}}
    assert "signature does not verify" in " ".join(
        attestation.appraise(
            forged, component="witness", nonce="nonce-1", reference={"witness": "m" * 64}, device_key=device.public
        )["reasons"]
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    stale = attestation.appraise(
        evidence, component="verifier", nonce="nonce-1", reference=reference, device_key=device.public, now=later
    )
    assert stale["status"] == "warning"
    assert (
        attestation.appraise(None, component="verifier", nonce="n", reference=reference, device_key=device.public)[
            "status"
        ]
        == "contraindicated"
    )


def test_published_schema_matches_the_code() -> None:
    import json
    from pathlib import Path

    from apps.provenance.pcq.manifest import MANIFEST_SCHEMA

    published = Path(__file__).resolve().parents[2] / "docs" / "pcq-manifest.schema.json"
    assert json.loads(published.read_text()) == MANIFEST_SCHEMA


# --- What a v2 verdict binds (shared by integrity_verify and the offline bundle check) ----------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_shown = st.fixed_dictionaries(dict.fromkeys(verdict.SHOWN_FIELDS, _json))


@given(values=_shown, edited=st.sampled_from(verdict.SHOWN_FIELDS), new=_json)
@hsettings(max_examples=150, deadline=None)
def test_only_the_edited_shown_field_is_named(values, edited, new) -> None:
    statement = {"type": verdict.V2, "shown": verdict.shown_digests(values)}
    assert verdict.shown_mismatches(statement, values) == []
    changed = {**values, edited: new}
    expected = [] if canonicalize(new) == canonicalize(values[edited]) else [edited]
    assert verdict.shown_mismatches(statement, changed) == expected
    # A subset (an older bundle without verdict.json) is checked on what it carries.
    partial = {k: v for k, v in changed.items() if k in ("verifier_result", "witness_result")}
    assert verdict.shown_mismatches(statement, partial) == [f for f in expected if f in partial]
    # A statement binding nothing matches nothing; a value that cannot be canonicalized differs.
    assert verdict.shown_mismatches({"type": verdict.V2}, values) == list(verdict.SHOWN_FIELDS)
    assert verdict.shown_mismatches(statement, {**values, edited: 2**60}) == [edited]
