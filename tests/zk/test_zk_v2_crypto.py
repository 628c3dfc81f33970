"""Suite v2 cryptography: the RFC 9380 J.8.1 vectors (external, copied from the RFC), the
fast libsecp256k1 path agreeing with the reference backends, chunk-bound DLEQ weights and
strict encodings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.zk_proofs.zk import fast, group, sswu, v2

J81 = json.loads((Path(__file__).parent / "vectors" / "rfc9380_j81.json").read_text())


def _msg(label: str) -> bytes:
    m = re.fullmatch(r"(\w+_)\((\w) x (\d+)\)", label)
    return (m.group(1) + m.group(2) * int(m.group(3))).encode() if m else label.encode()


@pytest.mark.parametrize("vector", J81["vectors"], ids=lambda v: v["msg"][:16] or "empty")
def test_rfc9380_j81_vectors_for_the_registered_suite(vector) -> None:
    dst = J81["dst"].encode()
    u0, u1 = sswu.hash_to_field(_msg(vector["msg"]), dst)
    assert (f"{u0:064x}", f"{u1:064x}") == (vector["u0"], vector["u1"])
    q0, q1 = sswu.map_to_curve(u0), sswu.map_to_curve(u1)
    assert (f"{q0[0]:064x}", f"{q0[1]:064x}") == (vector["Q0.x"], vector["Q0.y"])
    assert (f"{q1[0]:064x}", f"{q1[1]:064x}") == (vector["Q1.x"], vector["Q1.y"])
    p = sswu.hash_to_curve(_msg(vector["msg"]), dst)
    assert (f"{p[0]:064x}", f"{p[1]:064x}") == (vector["P.x"], vector["P.y"])
    # libsecp256k1 accepts the point: it is on secp256k1
    fast.Points.parse([sswu.encode(p)])


def _chunk(n: int, x: int) -> tuple[list[bytes], list[bytes]]:
    us = v2.blind_selectors([f"s{i}" for i in range(n)], group.random_scalar())
    return us, fast.Points.parse(us).mul_all(x.to_bytes(32, "big")).compressed()


@settings(max_examples=12, deadline=None)
@given(n=st.integers(min_value=1, max_value=40), chunk=st.integers(min_value=0, max_value=63))
def test_fast_and_reference_verification_agree(n: int, chunk: int) -> None:
    cc = group.backend("coincurve")
    x = group.random_scalar()
    key, other = cc.base_mul(x), cc.base_mul(group.random_scalar())
    us, vs = _chunk(n, x)
    assert vs == [cc.mul(u, x) for u in us]
    proof = v2.prove_dleq(cc, x, key, other, us, vs, "s-1", chunk, "A")
    U, V = fast.Points.parse(us), fast.Points.parse(vs)
    assert v2.verify_dleq_fast(key, other, U, V, proof, "s-1", chunk, "A")
    assert v2.verify_dleq_ref(cc, key, other, us, vs, proof, "s-1", chunk, "A")
    # the storage form round-trips
    assert fast.Points.from_raw(b"".join(U.raw())).compressed() == us


def test_a_py_ecc_proof_verifies_on_the_fast_path() -> None:
    pe = group.backend("py_ecc")
    x = group.random_scalar()
    key, other = pe.base_mul(x), pe.base_mul(3)
    us = [sswu.encode(v2.selector_point(f"p{i}")) for i in range(4)]
    vs = [pe.mul(u, x) for u in us]
    proof = v2.prove_dleq(pe, x, key, other, us, vs, "s", 2, "B")
    assert v2.verify_dleq_fast(key, other, fast.Points.parse(us), fast.Points.parse(vs), proof, "s", 2, "B")


def test_the_weights_bind_every_point_the_role_and_both_keys() -> None:
    cc = group.backend("coincurve")
    x = group.random_scalar()
    key, other = cc.base_mul(x), cc.base_mul(7)
    us, vs = _chunk(6, x)
    seed = v2.chunk_seed("s", 0, "A", key, other, us, vs)
    # changing any one point, the role or the other key changes every weight
    for args in (
        ("s", 0, "A", key, other, [*us[:-1], us[0]], vs),
        ("s", 0, "A", key, other, us, [vs[1], *vs[1:]]),
        ("s", 0, "B", key, other, us, vs),
        ("s", 0, "A", key, cc.base_mul(8), us, vs),
    ):
        other_weights = v2.weights(v2.chunk_seed(*args), 6)
        assert all(a != b for a, b in zip(v2.weights(seed, 6), other_weights, strict=True))
    assert all(0 < d < 2**128 for d in v2.weights(seed, 100))
    proof = v2.prove_dleq(cc, x, key, other, us, vs, "s", 0, "A")
    U, V = fast.Points.parse(us), fast.Points.parse(vs)
    assert not v2.verify_dleq_fast(key, other, U, V, proof, "s", 0, "B")
    assert not v2.verify_dleq_fast(key, cc.base_mul(8), U, V, proof, "s", 0, "A")
    bad = fast.Points.parse([*vs[:-1], cc.mul(us[-1], x + 1)])
    assert not v2.verify_dleq_fast(key, other, U, bad, proof, "s", 0, "A")


@pytest.mark.parametrize(("n", "width"), [(96, 16), (128, 16), (200, 16), (600, 16), (1024, 16), (130, 32)])
def test_bucket_composite_equals_the_sum_of_multiplications(n: int, width: int) -> None:
    """fast.msm (Pippenger buckets, additions only) against the coincurve backend's own
    multiplications and additions, for every window width it picks and full 256-bit weights."""
    import secrets

    cc = group.backend("coincurve")
    us = v2.blind_selectors([f"m{i}" for i in range(n)], group.random_scalar())
    ws = [bytes(32 - width) + secrets.token_bytes(width) for _ in range(n)]
    m, _ = v2.composites_ref(cc, us, us, [int.from_bytes(w, "big") for w in ws])
    got = fast.Points.parse(us).composite(ws)
    assert fast.compress(got) == m
    assert fast.msm(fast.Points.parse(us[:5]).arr, 5, ws[:5]) == fast.Points.parse(us[:5]).composite_naive(ws[:5])


def test_bucket_composite_with_a_point_and_its_negation() -> None:
    """A prover can send P and −P: a bucket sum is then the identity, which libsecp256k1 cannot
    represent; the composite falls back to multiplications and is still right, and a DLEQ
    proof over such a chunk still verifies (and a wrong V still fails)."""
    cc = group.backend("coincurve")
    x = group.random_scalar()
    key, other = cc.base_mul(x), cc.base_mul(5)
    us = v2.blind_selectors([f"n{i}" for i in range(127)], group.random_scalar())
    neg = bytes([us[0][0] ^ 1]) + us[0][1:]  # −P: the other y parity
    us = [*us, neg]
    # weight 1 for P and −P, 2 for the rest: bucket 1 of the last window is {P, −P}
    ws = [bytes(31) + b"\x01"] + [bytes(31) + b"\x02"] * 126 + [bytes(31) + b"\x01"]
    pair = fast.Points.parse([us[0], neg])
    assert not fast._sum(
        fast.ffi.new("secp256k1_pubkey *"),
        fast.np.array([fast._addr(pair.arr + i) for i in (0, 1)], dtype=fast.np.uint64),
    )
    assert fast.Points.parse(us).composite(ws) == fast.Points.parse(us).composite_naive(ws)
    vs = fast.Points.parse(us).mul_all(x.to_bytes(32, "big")).compressed()
    proof = v2.prove_dleq(cc, x, key, other, us, vs, "s", 0, "A")
    U, V = fast.Points.parse(us), fast.Points.parse(vs)
    assert v2.verify_dleq_fast(key, other, U, V, proof, "s", 0, "A")
    assert v2.verify_dleq_ref(cc, key, other, us, vs, proof, "s", 0, "A")
    bad = fast.Points.parse([*vs[:-1], cc.mul(us[-1], x + 1)])
    assert not v2.verify_dleq_fast(key, other, U, bad, proof, "s", 0, "A")


@pytest.mark.parametrize(
    "text",
    ["0x" + "11" * 31, "AB" * 32, "ab" * 31, "ab" * 33, " " + "ab" * 32, "00" * 32, "ff" * 32, 5, None],
)
def test_scalars_parse_strictly(text) -> None:
    with pytest.raises(ValueError):
        v2.parse_scalar(text)


def test_proofs_are_a_closed_shape_and_re_encode_identically() -> None:
    p = v2.Proof(0xABCDEF, 7)
    assert v2.Proof.from_dict(p.as_dict()) == p and v2.Proof.from_dict(p.as_dict()).as_dict() == p.as_dict()
    with pytest.raises(ValueError):
        v2.Proof.from_dict({**p.as_dict(), "extra": "1"})
    with pytest.raises(ValueError):
        v2.Proof.from_dict({"c": p.as_dict()["c"].upper(), "s": p.as_dict()["s"]})


def test_points_parse_strictly_and_bad_points_are_refused() -> None:
    good = v2.blind_selectors(["a"], 3)[0].hex()
    assert v2.parse_point_hex(good) == bytes.fromhex(good)
    for text in (good.upper(), "0x" + good, "04" + good[2:], good[:-2]):
        with pytest.raises(ValueError):
            v2.parse_point_hex(text)
    with pytest.raises(group.InvalidPoint):
        fast.Points.parse([b"\x02" + b"\x00" * 32])


def test_session_keys_and_schnorr_are_bound() -> None:
    cc = group.backend("coincurve")
    x = group.random_scalar()
    key = cc.base_mul(x)
    pop = v2.prove_possession(cc, x, key, "agency-a", "s1")
    assert v2.verify_possession(cc, key, pop, "agency-a", "s1")
    assert not v2.verify_possession(cc, key, pop, "agency-b", "s1")
    sig = v2.sign(cc, x, key, b"m")
    assert v2.verify_signature(cc, key, sig, b"m") and not v2.verify_signature(cc, key, sig, b"n")
    assert v2.verify_signature(group.backend("py_ecc"), key, sig, b"m")


def test_worker_chunk_pool_gives_the_sequential_answers(settings) -> None:
    """The worker's chunk verification in its process pool: same answers as one process, a
    bad chunk still found."""
    from apps.zk_proofs import verification

    cc = group.backend("coincurve")
    x = group.random_scalar()
    key, other = cc.base_mul(x), cc.base_mul(5)
    jobs = []
    for index in range(3):
        us, vs = _chunk(20, x)
        proof = v2.prove_dleq(cc, x, key, other, us, vs, "s", index, "A").as_dict()
        raw = b"".join(fast.Points.parse(us).raw()), b"".join(fast.Points.parse(vs).raw())
        jobs.append((key, other, raw[0], raw[1], proof, "s", index, "A"))
    jobs.append((*jobs[0][:6], 1, "A"))  # chunk 0's proof presented as chunk 1
    settings.ZK_VERIFY_PROCESSES = 2
    pooled = verification._map(jobs)
    assert verification._pool is not None  # the pool really ran
    verification._pool.shutdown()
    verification._pool = None
    settings.ZK_VERIFY_PROCESSES = 1
    assert pooled == verification._map(jobs) == [True, True, True, False]


def test_inside_a_daemonic_celery_child_the_pool_is_threads(settings, monkeypatch) -> None:
    """Prefork children may not start processes; chunks then verify on threads (cffi drops the
    GIL in libsecp256k1), with the same answers."""
    import types

    from apps.zk_proofs import chunk_pool as pool
    from apps.zk_proofs import verification

    cc = group.backend("coincurve")
    x = group.random_scalar()
    key, other = cc.base_mul(x), cc.base_mul(5)
    us, vs = _chunk(10, x)
    proof = v2.prove_dleq(cc, x, key, other, us, vs, "s", 0, "A").as_dict()
    raw = b"".join(fast.Points.parse(us).raw()), b"".join(fast.Points.parse(vs).raw())
    jobs = [(key, other, raw[0], raw[1], proof, "s", 0, "A"), (key, other, raw[0], raw[1], proof, "s", 1, "A")]
    monkeypatch.setattr(verification, "_pool", None)
    monkeypatch.setattr(pool.multiprocessing, "current_process", lambda: types.SimpleNamespace(daemon=True))
    settings.ZK_VERIFY_PROCESSES = 2
    assert verification._map(jobs) == [True, False]
    assert type(verification._pool).__name__ == "ThreadPoolExecutor"
    verification._pool.shutdown()
    monkeypatch.setattr(verification, "_pool", None)


def test_pool_processes_do_not_hold_the_callers_pipes() -> None:
    """A pool process must not inherit the caller's descriptors: a forked child kept a browser
    driver's stdin open, so the driver never saw EOF and the test run hung at its end. With the
    pool on the fork server, closing our end of a pipe is seen at once by the reader."""
    import os
    import select

    from apps.zk_proofs import chunk_pool as pool

    r, w = os.pipe()
    ex = pool.executor(2)
    try:
        assert list(ex.map(os.getpid, [])) == []
        assert ex.submit(os.getpid).result(timeout=60) != os.getpid()  # a real child process
        os.close(w)
        ready, _, _ = select.select([r], [], [], 10)
        assert ready and os.read(r, 1) == b"", "a pool process still holds the write end"
    finally:
        ex.shutdown()
        os.close(r)
