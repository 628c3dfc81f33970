"""Signed checkpoints of the transparency log, in the shape of a C2SP signed note:

<origin>
<tree size>
<root hash, base64>

— <key name> <base64(key id (4 bytes) || Ed25519 signature)>
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from apps.core.crypto.signing import Signer, public_bytes

ORIGIN = "trustfabric.local/pcq-log"


def _hint(key: Ed25519PublicKey, name: str) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public_bytes(key)).digest()[:4]


def body(size: int, root: bytes, origin: str = ORIGIN) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign(size: int, root: bytes, signer: Signer, origin: str = ORIGIN) -> str:
    text = body(size, root, origin)
    signature = signer.private.sign(text.encode())
    blob = base64.b64encode(_hint(signer.public, origin) + signature).decode()
    return f"{text}\n\u2014 {origin} {blob}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


class CheckpointError(ValueError):
    pass


def parse_and_verify(note: str, key: Ed25519PublicKey) -> Checkpoint:
    try:
        text, sigs = note.split("\n\n", 1)
        origin, size_s, root_s = text.split("\n")
        size, root = int(size_s), base64.b64decode(root_s, validate=True)
    except ValueError as exc:
        raise CheckpointError("checkpoint is malformed") from exc
    for line in sigs.strip().splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != origin:
            continue
        blob = base64.b64decode(parts[2])
        if blob[:4] != _hint(key, origin):
            continue
        try:
            key.verify(blob[4:], (text + "\n").encode())
        except InvalidSignature as exc:
            raise CheckpointError("checkpoint signature does not verify") from exc
        return Checkpoint(origin, size, root)
    raise CheckpointError("checkpoint carries no signature by the log key")
