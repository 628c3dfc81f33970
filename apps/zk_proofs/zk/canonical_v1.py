"""The canonical JSON of ZK-TX v1 bundles: the frozen legacy encoder ``tf-jcs-1`` (the one PCQ
used before RFC 8785), so v1 bundles keep verifying byte for byte; v2 uses RFC 8785. Both
live in the Django-free ``apps.core.crypto.canonical``, so the offline verifier can use it."""

from __future__ import annotations

from typing import Any

from apps.core.crypto import canonical


def canonicalize(value: Any) -> bytes:
    return canonical.canonicalize(value, canonical.TF_JCS_1)


def digest(value: Any) -> str:
    return canonical.digest(value, canonical.TF_JCS_1)
