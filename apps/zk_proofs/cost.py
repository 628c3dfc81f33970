"""Cost of ZK-TX server verification in CPU-seconds per 1,000 proofs, batched vs unbatched.

Measured directly with the verification code (apps.zk_proofs.zk): validating every received
point and checking the DLEQ proofs, once with the chunked proofs the protocol uses (one proof
per chunk of client.CHUNK points) and once with one proof per point (unbatched). "A proof" is
one element's claim V_i = x·U_i. CPU time is the process's (time.process_time), so other load
on the machine does not inflate it. Used by ``manage.py cost_report`` (make cost, which feeds
/metrics) and by the load benchmark (``manage.py bench_load``) beside its own measurement.
"""

from __future__ import annotations

import time
from typing import Any

from .client import CHUNK
from .zk import group, proofs


def _verify_cpu(b: Any, x: int, key: bytes, us: list[bytes], vs: list[bytes], chunk: int) -> float:
    chunks = [(us[i : i + chunk], vs[i : i + chunk]) for i in range(0, len(us), chunk)]
    made = [(cu, cv, proofs.prove_dleq(b, x, key, cu, cv, "cost", i)) for i, (cu, cv) in enumerate(chunks)]
    hexed = [([u.hex() for u in cu], [v.hex() for v in cv], p) for cu, cv, p in made]
    t0 = time.process_time()
    for i, (cu, cv, p) in enumerate(hexed):
        us_ = [b.validate(bytes.fromhex(u)) for u in cu]
        vs_ = [b.validate(bytes.fromhex(v)) for v in cv]
        if not proofs.verify_dleq(b, key, us_, vs_, p, "cost", i):
            raise RuntimeError("a proof did not verify")
    return time.process_time() - t0


def measure(points: int, price_per_cpu_hour: float) -> dict[str, Any]:
    b = group.backend("coincurve")
    x = group.random_scalar()
    key = b.base_mul(x)
    us = [b.base_mul(group.random_scalar()) for _ in range(points)]
    vs = [b.mul(u, x) for u in us]
    modes: dict[str, Any] = {}
    for mode, chunk in (("batched", CHUNK), ("unbatched", 1)):
        cpu = _verify_cpu(b, x, key, us, vs, chunk)
        per_1k = cpu * 1000 / points
        modes[mode] = {
            "chunk_points": chunk,
            "points": points,
            "cpu_seconds": round(cpu, 4),
            "cpu_seconds_per_1k_proofs": round(per_1k, 4),
            "price_per_1k_proofs": round(per_1k / 3600 * price_per_cpu_hour, 8),
        }
    saving = 1 - modes["batched"]["cpu_seconds_per_1k_proofs"] / modes["unbatched"]["cpu_seconds_per_1k_proofs"]
    return {
        "benchmark": "cost per 1k ZK-TX proofs (server verification, CPU-seconds)",
        "measured_with": "apps.zk_proofs.zk verification directly (apps/zk_proofs/cost.py)",
        "price_per_cpu_hour": price_per_cpu_hour,
        "modes": modes,
        "batched_saving_vs_unbatched": round(saving, 4),
        "aim": "-50% vs unbatched",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
