"""make bench-zk: ZK-TX costs on this machine, v1 and v2 side by side in the same run, as JSON.

Per session size n (100, 1,000, 10,000 selectors per tenant; padded to the next bucket): the
client's round 1 (hash to the curve, blind, sort, chunk, sign), round 2 (validate, re-blind,
one DLEQ proof per chunk) and the server's verification of one side (every chunk proof).
v2's verification is split into its steps (parse the stored points, chunk seeds and weights,
the two composites, the final check). A batch of 100 fresh sessions at n = 100 verified on a
2-process pool (v2: the worker's own ``verify_chunk`` on the stored point form; v1: the v1
code path), L0 lookups, py_ecc against coincurve, and per element against openmined-psi.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from django.core.management.base import BaseCommand

from apps.zk_proofs.client import TenantSession
from apps.zk_proofs.verification import verify_chunk
from apps.zk_proofs.zk import fast, group, proofs, v2
from apps.zk_proofs.zk.bundle import chunks_root as chunks_root_v1

CHUNK = 1024


def _sets(n: int, shared: int) -> tuple[list[str], list[str]]:
    common = [f"+4470{i:08d}" for i in range(shared)]
    return common + [f"+4471{i:08d}" for i in range(n - shared)], common + [f"+4472{i:08d}" for i in range(n - shared)]


def _bucket(n: int) -> int:
    return max(128, 1 << (max(n, 1) - 1).bit_length())


# -- v2: the shipped client and the worker's code path --


def _v2_session(n: int, session: str = "00000000-0000-4000-8000-000000000000") -> tuple[dict[str, float], dict]:
    a, b = _sets(n, max(1, n // 25))
    ta, tb = TenantSession(session, "a", "A"), TenantSession(session, "b", "B")
    c0 = time.process_time()
    t0 = time.perf_counter()
    r1a = ta.round1(a, 128)
    t1 = time.perf_counter()
    c1 = time.process_time()
    r1b = tb.round1(b, 128)
    c2, t2 = time.process_time(), time.perf_counter()
    r2a = ta.round2({"key": tb.key.hex(), "chunks": r1b["chunks"]})
    c3, t3 = time.process_time(), time.perf_counter()
    r2b = tb.round2({"key": ta.key.hex(), "chunks": r1a["chunks"]})

    def raw(chunks: list[list[str]]) -> list[bytes]:  # the server's storage form
        return [b"".join(fast.Points.parse([bytes.fromhex(p) for p in c]).raw()) for c in chunks]

    stored = {
        "session": session,
        "keys": {"A": ta.key, "B": tb.key},
        "A": {"u": raw(r1a["chunks"]), "v": raw(r2a["chunks"]), "proofs": r2a["proofs"]},
        "B": {"u": raw(r1b["chunks"]), "v": raw(r2b["chunks"]), "proofs": r2b["proofs"]},
    }
    return {
        "client_round1_s": t1 - t0,
        "client_round1_cpu_s": c1 - c0,
        "client_round2_s": t3 - t2,
        "client_round2_cpu_s": c3 - c2,
    }, stored


def _v2_jobs(stored: dict, role: str) -> list[tuple]:
    other = "B" if role == "A" else "A"
    key, other_key = stored["keys"][role], stored["keys"][other]
    return [
        (key, other_key, u, v, proof, stored["session"], i, role)
        for i, (u, v, proof) in enumerate(
            zip(stored[other]["u"], stored[role]["v"], stored[role]["proofs"], strict=True)
        )
    ]


def v2_verify_session(stored: dict) -> int:
    """The worker's work for one session: every chunk of both sides, then the count."""
    for role in ("A", "B"):
        if not all(verify_chunk(job) for job in _v2_jobs(stored, role)):
            raise RuntimeError("proof failed")
    va = {c[i : i + 64] for c in stored["B"]["v"] for i in range(0, len(c), 64)}
    vb = {c[i : i + 64] for c in stored["A"]["v"] for i in range(0, len(c), 64)}
    return len(va & vb)


def _v2_steps(stored: dict) -> dict[str, dict[str, float]]:
    """One side's verification, step by step: wall and CPU (this thread) in ms."""
    names = ("parse", "seed_and_weights", "composites", "final_check")
    wall, cpu = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
    for key, other_key, u_raw, v_raw, proof, session, index, role in _v2_jobs(stored, "A"):
        marks = [(time.perf_counter(), time.thread_time())]
        us_p, vs_p = fast.Points.from_raw(u_raw), fast.Points.from_raw(v_raw)
        marks.append((time.perf_counter(), time.thread_time()))
        us, vs = us_p.compressed(), vs_p.compressed()
        seed = v2.chunk_seed(session, index, role, key, other_key, us, vs)
        ws = v2.weight_bytes(seed, len(us))
        marks.append((time.perf_counter(), time.thread_time()))
        m, z = us_p.composite(ws), vs_p.composite(ws)
        marks.append((time.perf_counter(), time.thread_time()))
        p = v2.Proof.from_dict(proof)
        fast.base_lin(p.s, p.c, key), fast.lin(p.s, m, p.c, z)
        marks.append((time.perf_counter(), time.thread_time()))
        for name, (w0, c0), (w1, c1) in zip(names, marks[:-1], marks[1:], strict=True):
            wall[name] += (w1 - w0) * 1000
            cpu[name] += (c1 - c0) * 1000
    return {name: {"wall_ms": round(wall[name], 2), "cpu_ms": round(cpu[name], 2)} for name in names}


# -- v1: the kept v1 code path (SvdW hash-to-curve, per-point weights, compressed points) --


def _v1_session(n: int, session: str = "bench") -> tuple[dict[str, float], dict]:
    b = group.backend("coincurve")
    a, bb = _sets(n, max(1, n // 25))
    xa, xb = group.random_scalar(), group.random_scalar()
    ka, kb = b.base_mul(xa), b.base_mul(xb)

    def round1(values: list[str], x: int) -> list[list[str]]:
        padded = values + [f"dummy:{i}:{x % 9973}" for i in range(_bucket(len(values)) - len(values))]
        pts = sorted(b.mul(proofs.selector_point(b, s), x).hex() for s in padded)
        chunks = [pts[i : i + CHUNK] for i in range(0, len(pts), CHUNK)]
        chunks_root_v1(chunks)
        return chunks

    def round2(chunks: list[list[str]], x: int, key: bytes) -> dict:
        out, prf = [], []
        for i, c in enumerate(chunks):
            us = [b.validate(bytes.fromhex(u)) for u in c]
            vs = [b.mul(u, x) for u in us]
            out.append([v.hex() for v in vs])
            prf.append(proofs.prove_dleq(b, x, key, us, vs, session, i).as_dict())
        return {"chunks": out, "proofs": prf}

    t0 = time.perf_counter()
    r1a = round1(a, xa)
    t1 = time.perf_counter()
    r1b = round1(bb, xb)
    t2 = time.perf_counter()
    r2a = round2(r1b, xa, ka)
    t3 = time.perf_counter()
    r2b = round2(r1a, xb, kb)
    transcript = {"session": session, "keys": {"A": ka.hex(), "B": kb.hex()}, "A": (r1a, r2a), "B": (r1b, r2b)}
    return {"client_round1_s": t1 - t0, "client_round2_s": t3 - t2}, transcript


def _v1_verify_side(t: dict, role: str) -> None:
    b = group.backend("coincurve")
    other = "B" if role == "A" else "A"
    key = bytes.fromhex(t["keys"][role])
    r2 = t[role][1]
    for i, (us, vs, proof) in enumerate(zip(t[other][0], r2["chunks"], r2["proofs"], strict=True)):
        ok = proofs.verify_dleq(
            b,
            key,
            [bytes.fromhex(u) for u in us],
            [bytes.fromhex(v) for v in vs],
            proofs.Proof.from_dict(proof),
            t["session"],
            i,
        )
        if not ok:
            raise RuntimeError("proof failed")


def v1_verify_session(t: dict) -> int:
    _v1_verify_side(t, "A")
    _v1_verify_side(t, "B")
    return len({p for c in t["B"][1]["chunks"] for p in c} & {p for c in t["A"][1]["chunks"] for p in c})


def _pct(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {
        "p50_ms": round(statistics.median(s) * 1000, 1),
        "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))] * 1000, 1),
        "runs": len(s),
    }


def _timed_v2(stored: dict) -> tuple[int, float]:
    """The count and the CPU this thread spent (a pool process runs one task at a time)."""
    t0 = time.thread_time()
    return v2_verify_session(stored), time.thread_time() - t0


def _timed_v1(t: dict) -> tuple[int, float]:
    t0 = time.thread_time()
    return v1_verify_session(t), time.thread_time() - t0


def _batch(kind: str, batch_size: int, rounds: int, pool_kind: str = "processes") -> dict[str, Any]:
    """Wall-clock p50/p95 of verifying the whole batch on 2 workers (processes, or threads —
    what a Celery prefork child can use), the CPU the workers spent on it, and the achieved
    parallelism (CPU ÷ wall; 2.0 is both cores busy all the time). On a shared machine wall
    clock includes other people's work; CPU does not."""
    make, verify = (_v2_session, _timed_v2) if kind == "v2" else (_v1_session, _timed_v1)
    sessions = [make(100, f"00000000-0000-4000-8000-{i:012d}")[1] for i in range(batch_size)]
    times, cpu, parent = [], [], []
    executor = ProcessPoolExecutor if pool_kind == "processes" else ThreadPoolExecutor
    with executor(max_workers=2) as pool:
        list(pool.map(verify, sessions[:2]))  # warm the workers
        for _ in range(rounds):
            p0, t0 = time.thread_time(), time.perf_counter()
            results = list(pool.map(verify, sessions, chunksize=max(1, batch_size // 8)))
            times.append(time.perf_counter() - t0)
            parent.append(time.thread_time() - p0)
            cpu.append(sum(c for _, c in results))
    wall_p50, cpu_p50 = statistics.median(times), statistics.median(cpu)
    return {
        "sessions": batch_size,
        "n": 100,
        "workers": 2,
        "pool": pool_kind,
        **_pct(times),
        "worker_cpu_s_per_batch_p50": round(cpu_p50, 3),
        "parent_cpu_s_per_batch_p50": round(statistics.median(parent), 3),
        "parallelism_p50": round(cpu_p50 / wall_p50, 2),
        "cpu_bound_2_idle_cores_ms": round(cpu_p50 / 2 * 1000, 1),
        "counts_ok": {c for c, _ in results} == {4},
    }


def _profile(top: int = 15) -> list[dict[str, Any]]:
    """cProfile of the worker's verification of 20 sessions at n = 100 and one v2 client round 1
    at n = 1,000: the functions with the most time of their own."""
    import cProfile
    import pstats

    sessions = [_v2_session(100, f"00000000-0000-4000-8000-{i:012d}")[1] for i in range(20)]
    profiler = cProfile.Profile()
    profiler.enable()
    for stored in sessions:
        v2_verify_session(stored)
    TenantSession("00000000-0000-4000-8000-000000000000", "a", "A").round1(_sets(1000, 40)[0], 128)
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("tottime")
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in list(stats.stats.items()):  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{filename.rsplit('/', 1)[-1]}:{line}({name})",
                "calls": calls,
                "own_ms": round(tottime * 1000, 1),
                "cumulative_ms": round(cumtime * 1000, 1),
            }
        )
    return sorted(rows, key=lambda r: -r["own_ms"])[:top]


class Command(BaseCommand):
    help = "Benchmark ZK-TX v1 and v2 side by side (JSON)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true")
        parser.add_argument("--profile", action="store_true", help="add a cProfile of verification and round 1")

    def handle(self, *args: Any, quick: bool = False, profile: bool = False, **options: Any) -> None:
        report: dict[str, Any] = {"benchmark": "zk", "suites": {"v1": proofs.SUITE, "v2": v2.SUITE}}
        sizes = [100, 1000] if quick else [100, 1000, 10000]
        per_size = []
        for n in sizes:
            row: dict[str, Any] = {"n": n, "padded": _bucket(n)}
            client, stored = _v2_session(n)
            c0 = time.thread_time()
            t0 = time.perf_counter()
            for job in _v2_jobs(stored, "A"):
                assert verify_chunk(job)
            verify_cpu = time.thread_time() - c0
            row["v2"] = {
                "client_round1_ms": round(client["client_round1_s"] * 1000, 1),
                "client_round1_cpu_ms": round(client["client_round1_cpu_s"] * 1000, 1),
                "server_verify_per_side_cpu_ms": round(verify_cpu * 1000, 1),
                "client_round2_ms": round(client["client_round2_s"] * 1000, 1),
                "client_round2_cpu_ms": round(client["client_round2_cpu_s"] * 1000, 1),
                "server_verify_per_side_ms": round((time.perf_counter() - t0) * 1000, 1),
                "server_verify_steps_ms": _v2_steps(stored),
                "count": v2_verify_session(stored),
            }
            if n <= 1000 or not quick:
                client1, t1 = _v1_session(n)
                t0 = time.perf_counter()
                _v1_verify_side(t1, "A")
                row["v1"] = {
                    "client_round1_ms": round(client1["client_round1_s"] * 1000, 1),
                    "client_round2_ms": round(client1["client_round2_s"] * 1000, 1),
                    "server_verify_per_side_ms": round((time.perf_counter() - t0) * 1000, 1),
                    "count": v1_verify_session(t1),
                }
            per_size.append(row)
        report["per_session"] = per_size
        report["targets"] = {
            "batch_p95_ms": 900,
            "server_verify_per_side_ms_at_n1000": 150,
            "client_round1_ms_at_n10000": 5000,
        }
        batch_size, rounds = (20, 2) if quick else (100, 5)
        report["batch_fresh"] = {
            "v2": _batch("v2", batch_size, rounds),
            "v2_threads": _batch("v2", batch_size, rounds, "threads"),
            "v1": _batch("v1", batch_size, rounds),
        }

        import hashlib

        headers = [f"s{i}".encode() for i in range(100)]
        verified = {hashlib.sha256(h).hexdigest() for h in headers}
        cached = []
        for _ in range(50):
            t0 = time.perf_counter()
            assert all(hashlib.sha256(h).hexdigest() in verified for h in headers)
            cached.append(time.perf_counter() - t0)
        report["batch_verified_l0"] = {"bundles": 100, **_pct(cached), "aim_p95_ms": 50}

        cc, pe = group.backend("coincurve"), group.backend("py_ecc")
        points = [cc.hash_to_curve(f"{i}".encode(), b"BENCH") for i in range(20)]
        k = group.random_scalar()
        timings: dict[str, Any] = {}
        for name, b in (("coincurve", cc), ("py_ecc", pe)):
            t0 = time.perf_counter()
            out = [b.mul(p, k) for p in points]
            timings[name] = (time.perf_counter() - t0) / len(points) * 1e6
            timings[f"{name}_out"] = out
        report["backends"] = {
            "scalar_mult_us": {"coincurve": round(timings["coincurve"], 1), "py_ecc": round(timings["py_ecc"], 1)},
            "same_results": timings["coincurve_out"] == timings["py_ecc_out"],
            "py_ecc_slowdown": round(timings["py_ecc"] / timings["coincurve"], 1),
        }
        report["vs_openmined_psi"] = self._openmined(1000)
        if profile:
            report["profile"] = _profile()
        self.stdout.write(json.dumps(report, indent=2))

    def _openmined(self, n: int) -> dict[str, Any]:
        a, b = _sets(n, 40)
        out: dict[str, Any] = {"n": n, "shared": 40}
        for kind, make, verify in (("v2", _v2_session, v2_verify_session), ("v1", _v1_session, v1_verify_session)):
            t0 = time.perf_counter()
            _, t = make(n)
            count = verify(t)
            took = time.perf_counter() - t0
            out[f"trustfabric_{kind}"] = {
                "count": count,
                "seconds": round(took, 3),
                "us_per_element": round(took / (2 * n) * 1e6, 1),
                "includes": "both clients' rounds, proofs and server verification (padded to 1,024)",
            }
        try:
            import private_set_intersection.python as psi
        except ImportError:
            out["openmined_psi"] = "not installed"
            return out
        t0 = time.perf_counter()
        client = psi.client.CreateWithNewKey(False)
        server = psi.server.CreateWithNewKey(False)
        setup = server.CreateSetupMessage(0.0, len(a), b, psi.DataStructure.RAW)
        response = server.ProcessRequest(client.CreateRequest(a))
        theirs_count = client.GetIntersectionSize(setup, response)
        theirs = time.perf_counter() - t0
        out["openmined_psi"] = {
            "count": theirs_count,
            "seconds": round(theirs, 3),
            "us_per_element": round(theirs / (2 * n) * 1e6, 1),
            "includes": "PSI-CA without proofs of correct blinding, no padding",
        }
        for kind in ("v1", "v2"):
            out[f"ratio_{kind}"] = round(out[f"trustfabric_{kind}"]["seconds"] / theirs, 2)
        return out
