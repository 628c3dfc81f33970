"""Transcripts at rest: each session's blinded sets are sealed with AES-256-GCM under a fresh
per-session data key; the data key is stored wrapped (AES-256-GCM) by the wrapping key from
the environment (``TF_ZK_TRANSCRIPT_KEY``, base64 of 32 bytes). A database dump alone does
not yield a single blinded point, and deleting the wrapped key (retention) destroys the
transcript even in old backups of the blobs.

Sealed payloads are bound (AAD) to the session, the role and the round, so a blob moved to
another row does not open. Without ``TF_ZK_TRANSCRIPT_KEY`` the embedded profile derives a
wrapping key from ``SECRET_KEY`` (HKDF); production sets its own (``check --deploy`` warns)."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

NONCE = 12


class SealError(ValueError):
    pass


def wrapping_key() -> bytes:
    configured = getattr(settings, "ZK_TRANSCRIPT_KEY", "")
    if configured:
        key = base64.b64decode(configured)
        if len(key) != 32:
            raise SealError("TF_ZK_TRANSCRIPT_KEY must be base64 of exactly 32 bytes")
        return key
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"trustfabric zk-tx transcript kek").derive(
        settings.SECRET_KEY.encode()
    )


def kek_id(kek: bytes | None = None) -> str:
    return hashlib.sha256(b"zk-kek-id" + (kek or wrapping_key())).hexdigest()[:16]


def new_wrapped_data_key(session: str) -> tuple[bytes, str]:
    """A fresh data key for one session, returned wrapped, with the wrapping key's id."""
    kek = wrapping_key()
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(kek).encrypt(nonce, AESGCM.generate_key(256), f"dek|{session}".encode()), kek_id(kek)


def _unwrap(wrapped: bytes, session: str) -> bytes:
    try:
        return AESGCM(wrapping_key()).decrypt(wrapped[:NONCE], wrapped[NONCE:], f"dek|{session}".encode())
    except Exception as exc:  # InvalidTag: wrong wrapping key or a changed blob
        raise SealError("the transcript data key does not unwrap (wrong TF_ZK_TRANSCRIPT_KEY?)") from exc


def seal(wrapped: bytes, session: str, label: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(_unwrap(wrapped, session)).encrypt(nonce, plaintext, f"{session}|{label}".encode())


def open_sealed(wrapped: bytes | None, session: str, label: str, blob: bytes | None) -> bytes:
    if wrapped is None or blob is None:
        raise SealError("the transcript has been deleted")
    blob, wrapped = bytes(blob), bytes(wrapped)
    try:
        return AESGCM(_unwrap(wrapped, session)).decrypt(blob[:NONCE], blob[NONCE:], f"{session}|{label}".encode())
    except SealError:
        raise
    except Exception as exc:
        raise SealError("a sealed transcript does not open (changed or moved)") from exc
