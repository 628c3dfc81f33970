"""Other apps' entries in the transparency log.

The log is shared: besides PCQ's witnessed verdicts and the audit-head anchors (both known to
``services.log_audit``), other apps append their own signed documents (the weekly tenant
digests). For the log audit to recompute every leaf it must be able to read those entries back,
so each such app registers a *log source* here from its ``AppConfig.ready()``: a function that
returns the exact bytes of each of its leaves by leaf index. A leaf that no source claims is
reported as an unexplained leaf, so an app that appends without registering fails the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol


class LogSource(Protocol):
    def __call__(self) -> Mapping[int, bytes]: ...


_SOURCES: dict[str, LogSource] = {}


def register_log_source(name: str, source: LogSource | Callable[[], Mapping[int, bytes]]) -> None:
    """Declare that ``name`` appends leaves to the log; ``source()`` returns them (all tenants)."""
    _SOURCES[name] = source


def registered_leaves() -> dict[int, tuple[str, bytes]]:
    leaves: dict[int, tuple[str, bytes]] = {}
    for name, source in _SOURCES.items():
        for index, data in source().items():
            leaves[index] = (name, data)
    return leaves
