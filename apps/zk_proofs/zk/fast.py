"""The hot group arithmetic for ZK-TX v2, straight on libsecp256k1 through coincurve's cffi
binding: points are parsed once into ``secp256k1_pubkey`` structs and stay parsed while they
are multiplied and summed; nothing is serialised in between. A composite Σ dᵢ·Pᵢ of 96 points
or more is a bucket multi-scalar multiplication made of ``secp256k1_ec_pubkey_combine`` calls
(additions only: ``msm``); below that, n in-place multiplications and one combine.

Storage form: the server keeps validated points as raw 64-byte ``X‖Y`` (uncompressed SEC1
without the 04 prefix). Parsing that back costs ~0.4 µs a point (a curve-equation check), against
~4 µs for a compressed point (a square root)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from coincurve._libsecp256k1 import ffi, lib  # type: ignore[import-not-found]  # cffi extension, no stubs
from coincurve.context import GLOBAL_CONTEXT

from .group import InvalidPoint

_CTX = GLOBAL_CONTEXT.ctx
_COMPRESSED = lib.SECP256K1_EC_COMPRESSED
_UNCOMPRESSED = lib.SECP256K1_EC_UNCOMPRESSED


class Points:
    """n parsed points (a ``secp256k1_pubkey[n]`` array)."""

    __slots__ = ("_raw", "arr", "n")

    def __init__(self, n: int) -> None:
        self.n = n
        self.arr = ffi.new("secp256k1_pubkey[]", max(n, 1))
        self._raw: list[bytes] | None = None

    @classmethod
    def parse(cls, encodings: Sequence[bytes]) -> Points:
        """Compressed (33 bytes) or uncompressed (65 bytes) SEC1; every point is validated
        (on the curve; the identity has no SEC1 encoding that parses)."""
        out = cls(len(encodings))
        arr = out.arr
        for i, data in enumerate(encodings):
            if len(data) not in (33, 65) or not lib.secp256k1_ec_pubkey_parse(_CTX, arr + i, data, len(data)):
                raise InvalidPoint("a point is not a valid secp256k1 point (off-curve, identity or malformed)")
        return out

    @classmethod
    def from_raw(cls, raw: bytes) -> Points:
        """From the storage form: concatenated 64-byte X‖Y."""
        if len(raw) % 64:
            raise InvalidPoint("stored points must be 64 bytes each")
        points = [raw[i : i + 64] for i in range(0, len(raw), 64)]
        out = cls.parse([b"\x04" + p for p in points])
        out._raw = points  # validated by the parse: compressing them needs no serialisation
        return out

    def raw(self) -> list[bytes]:
        if self._raw is None:
            self._raw = [_serialize(self.arr + i, False)[1:] for i in range(self.n)]
        return self._raw

    def compressed(self) -> list[bytes]:
        if self._raw is not None:
            return [compress(p) for p in self._raw]
        return [_serialize(self.arr + i, True) for i in range(self.n)]

    def mul_all(self, scalar: bytes) -> Points:
        """A new array with every point multiplied by one scalar (32 bytes, big-endian)."""
        out = Points(self.n)
        ffi.memmove(out.arr, self.arr, 64 * self.n)  # the parsed structs, not the cached encodings
        for i in range(self.n):
            if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, out.arr + i, scalar):
                raise ValueError("invalid scalar")
        return out

    def composite(self, weights: Sequence[bytes]) -> bytes:
        """Σ wᵢ·Pᵢ as 65-byte uncompressed SEC1 (Pippenger's bucket method, see ``msm``)."""
        if len(weights) != self.n or not self.n:
            raise ValueError("one weight per point, and at least one point")
        if self.n < NAIVE_BELOW:
            return _naive(self.arr, self.n, weights)
        return msm(self.arr, self.n, weights)

    def composite_naive(self, weights: Sequence[bytes]) -> bytes:
        """Σ wᵢ·Pᵢ by n multiplications in place and one combine (the reference for ``msm``,
        and its fallback when a partial sum is the identity)."""
        if len(weights) != self.n or not self.n:
            raise ValueError("one weight per point, and at least one point")
        return _naive(self.arr, self.n, weights)


def _naive(arr: object, n: int, weights: Sequence[bytes]) -> bytes:
    work = ffi.new("secp256k1_pubkey[]", n)
    ffi.memmove(work, arr, 64 * n)
    for i, w in enumerate(weights):
        if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, work + i, w):
            raise ValueError("invalid weight")
    return _combine([work + i for i in range(n)])


NAIVE_BELOW = 96  # fewer points: n multiplications beat the bucket method's fixed cost


def _window(n: int) -> int:
    """Bucket width in bits, measured with 128-bit weights (2-3 alike at 128 points, 4 best at
    1,024: 2.4 ms and 10.4 ms against 2.8 ms and 22.5 ms by multiplications)."""
    return 2 if n <= 192 else 3 if n <= 512 else 4


def _addr(cdata: object) -> int:
    return int(ffi.cast("uintptr_t", cdata))


def _sum(out: object, addresses: np.ndarray) -> bool:
    ptrs = ffi.cast("secp256k1_pubkey **", ffi.from_buffer(addresses))
    return bool(lib.secp256k1_ec_pubkey_combine(_CTX, out, ptrs, len(addresses)))


def _plan(c: int, present: list[int], have: bool, bucket_addr: int, acc_addr: int, cur: int) -> list[np.ndarray]:
    """The combine calls that turn total X and buckets B_d into 2ᶜ·X + Σ d·B_d: one call with
    every term repeated (2ᶜ copies of X, d of B_d) when c ≤ 3, else Horner over the bits of d
    (X ← 2X + Σ_{d has bit b} B_d, c calls). Addresses; X alternates between two slots."""
    bucket = [bucket_addr + 64 * d for d in range(1 << c)]
    if c <= 3:
        terms = ([acc_addr + 64 * cur] * (1 << c) if have else []) + [bucket[d] for d in present for _ in range(d)]
        return [np.array(terms, dtype=np.uint64)]
    steps = []
    for b in range(c - 1, -1, -1):
        terms = [bucket[d] for d in present if d >> b & 1]
        if have:
            terms = [acc_addr + 64 * cur] * 2 + terms
        if terms:
            steps.append(np.array(terms, dtype=np.uint64))
            cur, have = cur ^ 1, True
    return steps


def msm(arr: object, n: int, weights: Sequence[bytes]) -> bytes:
    """Σ wᵢ·Pᵢ with only additions, in C: the weights (32-byte big-endian) are cut into c-bit
    windows; per window, the points are summed into buckets by digit (one ``combine`` per
    bucket), and the running total becomes 2ᶜ·total + Σ d·B_d by c ``combine`` calls
    (Horner over the bits of d: X ← 2X + Σ_{d has bit b} B_d). Cost: about n additions per
    window (≈ 0.2 µs each) instead of n multiplications (≈ 21 µs each). Variable time —
    everything here is public. If a partial sum is the identity (possible when a prover sends
    P and −P), the naive composite answers instead."""
    c = _window(n)
    w = np.frombuffer(b"".join(weights), dtype=np.uint8).reshape(n, 32)
    used = np.flatnonzero(w.any(axis=0))
    if not len(used):
        raise InvalidPoint("the sum is the identity")
    bits = np.unpackbits(w[:, used[0] :], axis=1)
    pad = (-bits.shape[1]) % c
    if pad:
        bits = np.concatenate([np.zeros((n, pad), np.uint8), bits], axis=1)
    windows = bits.shape[1] // c
    place = 1 << np.arange(c - 1, -1, -1, dtype=np.int64)
    digits = (bits.reshape(n, windows, c).astype(np.int64) * place).sum(axis=2)  # (n, windows)
    keys = (np.arange(windows, dtype=np.int64) << c)[None, :] + digits  # window j, digit d
    flat = keys.T.ravel()  # window-major
    order = np.argsort(flat, kind="stable")
    point_of = np.tile(np.arange(n, dtype=np.uint64), windows)[order]
    addresses = np.ascontiguousarray(np.uint64(_addr(arr)) + np.uint64(64) * point_of)
    counts = np.bincount(flat, minlength=windows << c)
    starts = np.concatenate([[0], np.cumsum(counts)])
    size = 1 << c
    buckets = ffi.new("secp256k1_pubkey[]", size)
    acc = ffi.new("secp256k1_pubkey[]", 2)
    bucket_addr, acc_addr = _addr(buckets), _addr(acc)
    bounds = starts.tolist()
    plans: dict[tuple[tuple[int, ...], bool, int], list[np.ndarray]] = {}
    cur, have = 0, False
    for j in range(windows):
        present = []
        for d in range(1, size):
            lo, hi = bounds[(j << c) + d], bounds[(j << c) + d + 1]
            if hi > lo:
                if not _sum(buckets + d, addresses[lo:hi]):
                    return _naive(arr, n, weights)
                present.append(d)
        if not present and not have:
            continue
        key = (tuple(present), have, cur)
        if key not in plans:
            plans[key] = _plan(c, present, have, bucket_addr, acc_addr, cur)
        for terms in plans[key]:
            cur ^= 1  # combine clears its output first: never write over an input
            if not _sum(acc + cur, terms):
                return _naive(arr, n, weights)
        have = True
    return _serialize(acc + cur, False)


def _serialize(pubkey: object, compressed: bool) -> bytes:
    size = 33 if compressed else 65
    out = ffi.new("unsigned char[]", size)
    length = ffi.new("size_t *", size)
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, length, pubkey, _COMPRESSED if compressed else _UNCOMPRESSED)
    return bytes(ffi.buffer(out, size))


def _combine(pointers: list[object]) -> bytes:
    out = ffi.new("secp256k1_pubkey *")
    ptrs = ffi.new("secp256k1_pubkey *[]", pointers)
    if not lib.secp256k1_ec_pubkey_combine(_CTX, out, ptrs, len(pointers)):
        raise InvalidPoint("the sum is the identity")
    return _serialize(out, False)


def _one(data: bytes) -> object:
    pk = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, pk, data, len(data)):
        raise InvalidPoint("a point is not a valid secp256k1 point (off-curve, identity or malformed)")
    return pk


def lin(s: int, p: bytes, c: int, q: bytes) -> bytes:
    """s·P + c·Q (c ≠ 0; s may be 0), as 65-byte SEC1."""
    terms = []
    if s:
        a = _one(p)
        if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, a, s.to_bytes(32, "big")):
            raise ValueError("invalid scalar")
        terms.append(a)
    b = _one(q)
    if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, b, c.to_bytes(32, "big")):
        raise ValueError("invalid scalar")
    terms.append(b)
    return _combine(terms)


def base_lin(s: int, c: int, q: bytes) -> bytes:
    """s·G + c·Q (c ≠ 0; s may be 0), as 65-byte SEC1."""
    terms = []
    if s:
        a = ffi.new("secp256k1_pubkey *")
        if not lib.secp256k1_ec_pubkey_create(_CTX, a, s.to_bytes(32, "big")):
            raise ValueError("invalid scalar")
        terms.append(a)
    b = _one(q)
    if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, b, c.to_bytes(32, "big")):
        raise ValueError("invalid scalar")
    terms.append(b)
    return _combine(terms)


def compress(point: bytes) -> bytes:
    """65-byte uncompressed (or 64-byte raw X‖Y) → 33-byte compressed, without a square root."""
    if len(point) == 65:
        point = point[1:]
    return bytes([2 + (point[63] & 1)]) + point[:32]
