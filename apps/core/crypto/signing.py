"""Ed25519 keys and DSSE envelopes (https://github.com/secure-systems-lab/dsse)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PAYLOAD_TYPE = "application/vnd.trustfabric.verdict+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def load_public(raw_b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(unb64(raw_b64))


@dataclass(frozen=True)
class Signer:
    """A named role's signing key: executor, verifier, witness, log, or the TEE device."""

    role: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, data: bytes) -> str:
        return b64(self.private.sign(data))

    def describe(self) -> dict[str, str]:
        return {"role": self.role, "key_id": self.key_id, "public_key": b64(public_bytes(self.public))}


def verify(public: Ed25519PublicKey, signature_b64: str, data: bytes) -> bool:
    try:
        public.verify(unb64(signature_b64), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def envelope(payload: bytes, signers: list[Signer], payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    message = pae(payload_type, payload)
    return {
        "payloadType": payload_type,
        "payload": b64(payload),
        "signatures": [{"keyid": s.key_id, "sig": s.sign(message)} for s in signers],
    }


def verify_envelope(env: dict[str, Any], keys: dict[str, Ed25519PublicKey], required: list[str]) -> list[str]:
    """Problems with ``env``; empty when every required key id signed it validly."""
    problems = []
    try:
        payload = unb64(env["payload"])
    except (KeyError, ValueError):
        return ["envelope payload is not base64"]
    message = pae(env.get("payloadType", ""), payload)
    valid = set()
    for sig in env.get("signatures", []):
        key = keys.get(sig.get("keyid", ""))
        if key is not None and verify(key, sig.get("sig", ""), message):
            valid.add(sig["keyid"])
        else:
            problems.append(f"envelope signature by key {sig.get('keyid', '?')} does not verify")
    for kid in required:
        if kid not in valid:
            problems.append(f"envelope lacks a valid signature by key {kid}")
    return problems
