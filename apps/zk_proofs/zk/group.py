"""The group behind one interface, with two backends that must agree byte for byte:
``coincurve`` (libsecp256k1; the hot path) and ``py_ecc`` (pure Python; the reference the
offline auditor can run). Points travel as 33-byte compressed SEC1 encodings; every decoded
point is validated (on the curve, not the identity — secp256k1 has cofactor 1, so on-curve
points are in the prime-order group)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Protocol

from . import h2c

N = h2c.N


class InvalidPoint(ValueError):
    pass


def _decompress(data: bytes) -> tuple[int, int]:
    if len(data) != 33 or data[0] not in (2, 3):
        raise InvalidPoint("a point must be 33 bytes of compressed SEC1 (02/03 prefix)")
    x = int.from_bytes(data[1:], "big")
    if x >= h2c.P:
        raise InvalidPoint("x coordinate is not a field element")
    gx = h2c.g(x)
    if not h2c.is_square(gx):
        raise InvalidPoint("the point is not on secp256k1")
    y = h2c.sqrt(gx)
    if y % 2 != data[0] - 2:
        y = h2c.P - y
    return x, y


def _compress(x: int, y: int) -> bytes:
    return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")


class Backend(Protocol):
    name: str

    def validate(self, data: bytes) -> bytes: ...
    def mul(self, data: bytes, scalar: int) -> bytes: ...
    def base_mul(self, scalar: int) -> bytes: ...
    def add(self, a: bytes, b: bytes) -> bytes: ...
    def hash_to_curve(self, msg: bytes, dst: bytes) -> bytes: ...


def _scalar(k: int) -> int:
    k %= N
    if k == 0:
        raise ValueError("scalar must be non-zero mod n")
    return k


class CoincurveBackend:
    name = "coincurve"

    def __init__(self) -> None:
        import coincurve

        self._cc = coincurve

    def validate(self, data: bytes) -> bytes:
        try:
            return self._cc.PublicKey(bytes(data)).format(compressed=True)
        except (ValueError, TypeError) as exc:
            raise InvalidPoint("the point is not a valid secp256k1 point (off-curve, identity or malformed)") from exc

    def mul(self, data: bytes, scalar: int) -> bytes:
        return self._cc.PublicKey(data).multiply(_scalar(scalar).to_bytes(32, "big")).format(compressed=True)

    def base_mul(self, scalar: int) -> bytes:
        return self._cc.PublicKey.from_secret(_scalar(scalar).to_bytes(32, "big")).format(compressed=True)

    def add(self, a: bytes, b: bytes) -> bytes:
        try:
            return self._cc.PublicKey.combine_keys([self._cc.PublicKey(a), self._cc.PublicKey(b)]).format(
                compressed=True
            )
        except ValueError as exc:
            raise InvalidPoint("the sum is the identity") from exc

    def hash_to_curve(self, msg: bytes, dst: bytes) -> bytes:
        u0, u1 = h2c.hash_to_field(msg, dst)
        p0 = self._cc.PublicKey.from_point(*h2c.map_to_curve_svdw(u0))
        p1 = self._cc.PublicKey.from_point(*h2c.map_to_curve_svdw(u1))
        return self._cc.PublicKey.combine_keys([p0, p1]).format(compressed=True)


class PyEccBackend:
    name = "py_ecc"

    def __init__(self) -> None:
        from py_ecc.secp256k1 import secp256k1

        self._s = secp256k1

    def validate(self, data: bytes) -> bytes:
        return _compress(*_decompress(bytes(data)))

    def mul(self, data: bytes, scalar: int) -> bytes:
        point = self._s.multiply(_decompress(data), _scalar(scalar))
        return _compress(*point)

    def base_mul(self, scalar: int) -> bytes:
        return _compress(*self._s.multiply(self._s.G, _scalar(scalar)))

    def add(self, a: bytes, b: bytes) -> bytes:
        pa, pb = _decompress(a), _decompress(b)
        if pa[0] == pb[0] and (pa[1] + pb[1]) % h2c.P == 0:
            raise InvalidPoint("the sum is the identity")
        return _compress(*self._s.add(pa, pb))

    def hash_to_curve(self, msg: bytes, dst: bytes) -> bytes:
        u0, u1 = h2c.hash_to_field(msg, dst)
        return _compress(*self._s.add(h2c.map_to_curve_svdw(u0), h2c.map_to_curve_svdw(u1)))


_backends: dict[str, Backend] = {}


def backend(name: str = "coincurve") -> Backend:
    if name not in _backends:
        classes: dict[str, type[Backend]] = {"coincurve": CoincurveBackend, "py_ecc": PyEccBackend}
        _backends[name] = classes[name]()
    return _backends[name]


def random_scalar() -> int:
    while True:
        k = secrets.randbelow(N)
        if k:
            return k


def hash_to_scalar(*parts: bytes, dst: bytes) -> int:
    """A scalar from a transcript, via expand_message_xmd (48 bytes, reduced mod n)."""
    msg = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return int.from_bytes(h2c.expand_message_xmd(msg, dst, 48), "big") % N or 1


def digest(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(4, "big") + p)
    return h.digest()
