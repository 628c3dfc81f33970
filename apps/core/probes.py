"""Details ``/readyz`` reports beside its checks. Apps above core register them in
``AppConfig.ready`` (zk_proofs: the admission breaker), so core never imports them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_details: dict[str, Callable[[], Any]] = {}


def register_readiness_detail(name: str, detail: Callable[[], Any]) -> None:
    _details[name] = detail


def readiness_details() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, detail in _details.items():
        try:
            out[name] = detail()
        except Exception as exc:  # noqa: BLE001 - the probe must answer whatever the cache does
            out[name] = f"error: {type(exc).__name__}"
    return out
