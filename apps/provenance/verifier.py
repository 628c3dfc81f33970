"""The verifier: attest, then replay a manifest from its inputs and compare."""

from __future__ import annotations

import time
from typing import Any

from .pcq.replay import replay


def verify_manifest(body: dict[str, Any], graph_doc: dict[str, Any], key: bytes | None) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    outcome = replay(body, graph_doc, key=key)
    return outcome, (time.perf_counter() - started) * 1000
