"""The hot group arithmetic for ZK-TX v2, straight on libsecp256k1 through coincurve's cffi
binding: points are parsed once into ``secp256k1_pubkey`` structs and stay parsed while they
are multiplied and summed; a composite Σ dᵢ·Pᵢ is n in-place multiplications and **one**
``secp256k1_ec_pubkey_combine`` over all n; nothing is serialised in between.

Storage form: the server keeps validated points as raw 64-byte ``X‖Y`` (uncompressed SEC1
without the 04 prefix). Parsing that back costs ~0.4 µs a point (a curve-equation check), against
~4 µs for a compressed point (a square root)."""

from __future__ import annotations

from collections.abc import Sequence

from coincurve._libsecp256k1 import ffi, lib
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
        """Σ wᵢ·Pᵢ as 65-byte uncompressed SEC1: n multiplications in place, one combine."""
        if len(weights) != self.n or not self.n:
            raise ValueError("one weight per point, and at least one point")
        work = ffi.new("secp256k1_pubkey[]", self.n)
        ffi.memmove(work, self.arr, 64 * self.n)
        for i, w in enumerate(weights):
            if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, work + i, w):
                raise ValueError("invalid weight")
        return _combine([work + i for i in range(self.n)])


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
