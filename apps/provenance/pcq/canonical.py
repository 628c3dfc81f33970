"""Kept importable for code written against it; the canonicalization lives in
``apps.core.crypto.canonical`` (versioned).

``canonicalize`` and ``digest`` here are the frozen legacy encoder (``tf-jcs-1``), exactly
what this module computed before: v1 ZK-TX bundles and other documents signed with it keep
verifying. New documents name a version and call ``apps.core.crypto.canonical`` directly.
"""

from __future__ import annotations

from typing import Any

from apps.core.crypto.canonical import (  # noqa: F401  (re-exports)
    CURRENT,
    RFC8785,
    TF_JCS_1,
    TF_JSON_1,
    CanonicalizationError,
)
from apps.core.crypto.canonical import canonicalize as _canonicalize
from apps.core.crypto.canonical import digest as _digest


def canonicalize(value: Any) -> bytes:
    return _canonicalize(value, TF_JCS_1)


def digest(value: Any) -> str:
    """SHA-256 (hex) of the legacy canonical form."""
    return _digest(value, TF_JCS_1)
