"""The deployment's Ed25519 keys, one per role.

Production sets ``PCQ_<ROLE>_KEY`` (base64 of a 32-byte Ed25519 seed) for each role. The
embedded profile generates them once under ``var/keys/`` (mode 0600). The TEE device key is
the simulated TEE's: only ``apps.provenance.attest`` uses it."""

from __future__ import annotations

import base64
import os
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.conf import settings

from apps.core.crypto.signing import Signer, b64, public_bytes

ROLES = ("executor", "verifier", "witness", "log", "tee_device")


def _seed_bytes(role: str) -> bytes:
    configured = settings.PCQ_KEYS.get(role)
    if configured:
        return base64.b64decode(configured)
    folder = Path(settings.PCQ_KEY_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{role}.key"
    if not path.exists():
        seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(seed))
    return base64.b64decode(path.read_bytes())


@cache
def signer(role: str) -> Signer:
    if role not in ROLES:
        raise ValueError(role)
    return Signer(role, Ed25519PrivateKey.from_private_bytes(_seed_bytes(role)))


def public_keys() -> dict[str, str]:
    return {role: b64(public_bytes(signer(role).public)) for role in ROLES}
