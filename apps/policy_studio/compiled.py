"""Compiled policies, cached per process by (version id, source hash): a version is compiled
once, the first time it is used, and never again (versions are immutable)."""

from __future__ import annotations

import threading

from .lac.language import CompiledPolicy, compile_policy
from .models import PolicyVersion

_lock = threading.Lock()
_cache: dict[tuple[int, str], CompiledPolicy] = {}


def compiled(version: PolicyVersion) -> CompiledPolicy:
    key = (version.pk, version.source_hash)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    policy = compile_policy(version.source)
    with _lock:
        if len(_cache) > 2048:
            _cache.clear()
        _cache[key] = policy
    return policy
