"""Keyed hashes (HMAC-SHA-256): a value replaced by a token that is stable under one key and
unlinkable without it. Used by the ``hash`` minimization transform and the decision log."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

PREFIX = "h:"
LENGTH = 16  # hex characters kept: 64 bits, enough to tell rows apart, short in a table


def keyed_hash(value: Any, key: bytes) -> str:
    """``h:`` and the first 16 hex characters of HMAC-SHA-256(key, str(value))."""
    return PREFIX + hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:LENGTH]
