"""The ZK-TX group arithmetic and proofs: fixed vectors, both backends agreeing, and the
pitfalls the protocol note lists (identity and off-curve points, proofs moved between
sessions, chunks or keys)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.zk_proofs.zk import group, h2c, proofs
from apps.zk_proofs.zk.group import InvalidPoint

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())
BACKENDS = ["coincurve", "py_ecc"]


def test_expand_message_xmd_matches_rfc9380_appendix_k1() -> None:
    v = VECTORS["expand_message_xmd"]
    out = h2c.expand_message_xmd(v["msg"].encode(), v["dst"].encode(), v["len"])
    assert out.hex() == v["out"] == "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"


def test_svdw_constants_satisfy_rfc9380_h1() -> None:
    assert h2c.Z == 1 and h2c.g(h2c.Z) != 0
    assert h2c.C3 * h2c.C3 % h2c.P == (-h2c.C1 * 3 * h2c.Z * h2c.Z) % h2c.P and h2c.sgn0(h2c.C3) == 0


@pytest.mark.parametrize("name", BACKENDS)
def test_committed_vectors_hold_for_each_backend(name: str) -> None:
    b = group.backend(name)
    for msg, expected in VECTORS["hash_to_curve"].items():
        assert b.hash_to_curve(msg.encode(), proofs.DST_SELECTOR).hex() == expected, msg
    x = int(VECTORS["key_scalar"], 16)
    assert b.base_mul(x).hex() == VECTORS["key_point"]
    for case in VECTORS["scalar_mult"]:
        assert b.mul(bytes.fromhex(VECTORS["hash_to_curve"][case["selector"]]), x).hex() == case["blinded"]


def test_backends_agree_on_random_inputs() -> None:
    cc, pe = group.backend("coincurve"), group.backend("py_ecc")
    for i in range(25):
        point = cc.hash_to_curve(f"selector-{i}".encode(), b"DIFF")
        assert point == pe.hash_to_curve(f"selector-{i}".encode(), b"DIFF")
        k = group.random_scalar()
        assert cc.mul(point, k) == pe.mul(point, k)
        assert cc.add(point, cc.base_mul(k)) == pe.add(point, pe.base_mul(k))


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(
    "bad",
    [
        b"\x00" * 33,  # not SEC1
        b"\x02" + b"\x00" * 32,  # x = 0: 0^3 + 7 is not a square mod p → off the curve
        b"\x02" + (h2c.P + 1).to_bytes(32, "big"),  # x ≥ p
        b"\x04" + b"\x01" * 64,  # uncompressed, off-curve
        b"\x02" + b"\x05" * 31,  # too short
    ],
)
def test_invalid_points_are_refused(name: str, bad: bytes) -> None:
    with pytest.raises(InvalidPoint):
        group.backend(name).validate(bad)


@pytest.mark.parametrize("name", BACKENDS)
def test_identity_never_appears(name: str) -> None:
    b = group.backend(name)
    p = b.base_mul(5)
    with pytest.raises(InvalidPoint):
        b.add(p, b.mul(p, group.N - 1))  # P + (−P) is the identity
    with pytest.raises(ValueError):
        b.mul(p, group.N)  # a zero scalar would map everything to the identity


@pytest.mark.parametrize("name", BACKENDS)
def test_proof_of_possession_is_bound_to_tenant_and_session(name: str) -> None:
    b = group.backend(name)
    x = group.random_scalar()
    key = b.base_mul(x)
    pop = proofs.prove_possession(b, x, key, "agency-a", "session-1")
    assert proofs.verify_possession(b, key, pop, "agency-a", "session-1")
    assert not proofs.verify_possession(b, key, pop, "agency-b", "session-1")
    assert not proofs.verify_possession(b, key, pop, "agency-a", "session-2")
    assert not proofs.verify_possession(b, b.base_mul(x + 1), pop, "agency-a", "session-1")


def _chunk(b, n: int, x: int, start: int = 0) -> tuple[list[bytes], list[bytes]]:
    us = [b.hash_to_curve(f"s{start + i}".encode(), b"CHUNK") for i in range(n)]
    return us, [b.mul(u, x) for u in us]


@pytest.mark.parametrize("name", BACKENDS)
def test_batched_dleq_proves_one_key_for_the_whole_chunk(name: str) -> None:
    b = group.backend(name)
    x = group.random_scalar()
    key = b.base_mul(x)
    us, vs = _chunk(b, 6, x)
    proof = proofs.prove_dleq(b, x, key, us, vs, "session-1", 0)
    assert proofs.verify_dleq(b, key, us, vs, proof, "session-1", 0)
    assert proofs.Proof.from_dict(proof.as_dict()) == proof
    # wrong key (a different x for one element), swapped chunk index, other session, reordering
    bad_vs = [*vs[:-1], b.mul(us[-1], x + 1)]
    assert not proofs.verify_dleq(b, key, us, bad_vs, proof, "session-1", 0)
    assert not proofs.verify_dleq(b, key, us, vs, proof, "session-1", 1)
    assert not proofs.verify_dleq(b, key, us, vs, proof, "session-2", 0)
    assert not proofs.verify_dleq(b, key, us[::-1], vs[::-1], proof, "session-1", 0)
    assert not proofs.verify_dleq(b, b.base_mul(x + 2), us, vs, proof, "session-1", 0)


def test_a_proof_from_one_backend_verifies_in_the_other() -> None:
    cc, pe = group.backend("coincurve"), group.backend("py_ecc")
    x = group.random_scalar()
    key = cc.base_mul(x)
    us, vs = _chunk(cc, 4, x)
    proof = proofs.prove_dleq(cc, x, key, us, vs, "s", 3)
    assert proofs.verify_dleq(pe, key, us, vs, proof, "s", 3)


def test_blinding_preserves_equality_only() -> None:
    """The PSI-CA core: x_A·(x_B·H(s)) = x_B·(x_A·H(s)), and different selectors never collide."""
    b = group.backend("coincurve")
    xa, xb = group.random_scalar(), group.random_scalar()
    a = {s: b.mul(b.mul(proofs.selector_point(b, s), xa), xb) for s in ("+447700900001", "+447700900002", "x@y.z")}
    bb = {s: b.mul(b.mul(proofs.selector_point(b, s), xb), xa) for s in ("+447700900002", "x@y.z", "acct-9")}
    assert len(set(a.values()) & set(bb.values())) == 2


def test_bench_zk_runs_and_agrees_with_openmined_psi() -> None:
    """make bench-zk keeps working, prints v1 and v2 side by side, and every implementation
    counts the same overlap."""
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("bench_zk", quick=True, profile=True, stdout=out)
    report = json.loads(out.getvalue())
    for pool in ("v2", "v2_threads", "v1"):
        batch = report["batch_fresh"][pool]
        assert batch["counts_ok"] and batch["worker_cpu_s_per_batch_p50"] > 0 and batch["parallelism_p50"] > 0
    steps = report["per_session"][0]["v2"]["server_verify_steps_ms"]
    assert set(steps) == {"parse", "seed_and_weights", "composites", "final_check"}
    assert all(step["cpu_ms"] >= 0 and step["wall_ms"] > 0 for step in steps.values())
    assert report["profile"] and all(row["calls"] > 0 for row in report["profile"])
    assert [(s["v2"]["count"], s["v1"]["count"]) for s in report["per_session"]] == [(4, 4), (40, 40)]
    assert report["batch_fresh"]["v2"]["counts_ok"] and report["batch_fresh"]["v1"]["counts_ok"]
    assert report["backends"]["same_results"] is True
    other = report["vs_openmined_psi"]
    assert other["trustfabric_v2"]["count"] == other["trustfabric_v1"]["count"] == 40
    assert other["openmined_psi"]["count"] == 40


def _protocol_count(set_a: list[str], set_b: list[str], backend: str) -> int:
    """The whole v2 protocol as the client and the worker run it: pad, blind, sign, re-blind
    with proofs, verify every proof (worker code, or the reference backend), count."""
    from apps.zk_proofs.client import TenantSession
    from apps.zk_proofs.verification import verify_chunk
    from apps.zk_proofs.zk import fast, v2

    sid = "00000000-0000-4000-8000-000000000001"
    a, b = TenantSession(sid, "a", "A"), TenantSession(sid, "b", "B")
    r1a, r1b = a.round1(set_a), b.round1(set_b)
    r2a = a.round2({"key": b.key.hex(), "chunks": r1b["chunks"]})
    r2b = b.round2({"key": a.key.hex(), "chunks": r1a["chunks"]})
    assert r1a["padded_size"] == 128 and len({p for c in r1a["chunks"] for p in c}) == 128  # padded, distinct
    ref = group.backend(backend)
    for me, other, r1_other, r2 in ((a, b, r1b, r2a), (b, a, r1a, r2b)):
        for i, (us, vs, proof) in enumerate(zip(r1_other["chunks"], r2["chunks"], r2["proofs"], strict=True)):
            u_pts, v_pts = [bytes.fromhex(u) for u in us], [bytes.fromhex(v) for v in vs]
            if backend == "coincurve":
                raw = b"".join(fast.Points.parse(u_pts).raw()), b"".join(fast.Points.parse(v_pts).raw())
                assert verify_chunk((me.key, other.key, raw[0], raw[1], proof, sid, i, me.role))
            else:
                assert v2.verify_dleq_ref(
                    ref, me.key, other.key, u_pts, v_pts, v2.Proof.from_dict(proof), sid, i, me.role
                )
    return len({p for c in r2b["chunks"] for p in c} & {p for c in r2a["chunks"] for p in c})


def test_ground_truth_for_200_random_pairs() -> None:
    """Empty, identical, disjoint and padded cases included; the count is exact every time."""
    import random

    rng = random.Random(2026)
    cases = [
        ([], []),
        (["x"], []),
        ([f"s{i}" for i in range(60)], [f"s{i}" for i in range(60)]),
        (["a1", "a2"], ["b1", "b2"]),
    ]
    while len(cases) < 200:
        shared = [f"c{len(cases)}-{i}" for i in range(rng.randrange(0, 12))]
        cases.append(
            (
                shared + [f"a{len(cases)}-{i}" for i in range(rng.randrange(0, 20))],
                shared + [f"b{len(cases)}-{i}" for i in range(rng.randrange(0, 20))],
            )
        )
    for set_a, set_b in cases:
        assert _protocol_count(set_a, set_b, "coincurve") == len(set(set_a) & set(set_b))


def test_reference_backend_gives_the_same_counts() -> None:
    for set_a, set_b in ((["p1", "p2", "p3"], ["p2", "p3", "p4"]), (["same"], ["same"])):
        assert _protocol_count(set_a, set_b, "py_ecc") == len(set(set_a) & set(set_b))


@pytest.mark.parametrize("backend", ["coincurve", "py_ecc"])
def test_blinded_intersection_matches_ground_truth_on_200_pairs_with_each_backend(backend: str) -> None:
    """The counting core with each backend on 200 random pairs (small sets keep py_ecc quick)."""
    import random

    rng = random.Random(77)
    b = group.backend(backend)
    cache: dict[str, bytes] = {}

    def h(s: str) -> bytes:
        if s not in cache:
            cache[s] = proofs.selector_point(b, s)
        return cache[s]

    for trial in range(200):
        shared = [f"c{i}" for i in range(rng.randrange(0, 5))]
        set_a = shared + [f"a{trial}-{i}" for i in range(rng.randrange(0, 5))]
        set_b = shared + [f"b{trial}-{i}" for i in range(rng.randrange(0, 5))]
        if trial == 0:
            set_a, set_b = [], []
        xa, xb = group.random_scalar(), group.random_scalar()
        va = {b.mul(b.mul(h(s), xa), xb) for s in set_a}
        vb = {b.mul(b.mul(h(s), xb), xa) for s in set_b}
        assert len(va & vb) == len(set(set_a) & set(set_b)), (backend, trial)
