"""The registered RFC 9380 suite ``secp256k1_XMD:SHA-256_SSWU_RO_`` (§8.7), used by ZK-TX v2.

expand_message_xmd with SHA-256 (§5.3.1), hash_to_field to two elements with L = 48 (§5.2),
the simplified SWU map (§6.6.2, straight-line, with ``sqrt_ratio`` for p ≡ 3 mod 4 from
Appendix F.2.1.2) onto the 3-isogenous curve E': y² = x³ + A'x + B' with Z = −11, then the
3-isogeny to secp256k1 (Appendix E.1), the two points added (cofactor 1). The test suite
checks the RFC's Appendix J.8.1 vectors, so a partner can use any other RFC 9380
implementation of this suite.

Field arithmetic uses ``gmpy2`` when it is installed (~8× faster modular exponentiation) and
plain Python integers otherwise: same results, the offline verifier needs no extra package.
"""

from __future__ import annotations

from .h2c import P, expand_message_xmd

try:  # pragma: no cover - both branches are exercised by whoever has (or lacks) gmpy2
    import gmpy2  # type: ignore[import-untyped]

    _mpz = gmpy2.mpz
    _powmod = gmpy2.powmod

    def _inv(x: int) -> int:
        return int(gmpy2.invert(x, P)) if x % P else 0

except ImportError:  # pragma: no cover
    _mpz = int
    _powmod = pow

    def _inv(x: int) -> int:
        return pow(x, -1, P) if x % P else 0


SUITE = "secp256k1_XMD:SHA-256_SSWU_RO_"
L = 48
# E' (RFC 9380 §8.7) and the 3-isogeny map constants (Appendix E.1).
A_ISO = 0x3F8731ABDD661ADCA08A5558F0F5D272E953D363CB6F0E5D405447C01A444533
B_ISO = 1771
Z = P - 11
_K1 = (
    0x8E38E38E38E38E38E38E38E38E38E38E38E38E38E38E38E38E38E38DAAAAA8C7,
    0x07D3D4C80BC321D5B9F315CEA7FD44C5D595D2FC0BF63B92DFFF1044F17C6581,
    0x534C328D23F234E6E2A413DECA25CAECE4506144037C40314ECBD0B53D9DD262,
    0x8E38E38E38E38E38E38E38E38E38E38E38E38E38E38E38E38E38E38DAAAAA88C,
)
_K2 = (
    0xD35771193D94918A9CA34CCBB7B640DD86CD409542F8487D9FE6B745781EB49B,
    0xEDADC6F64383DC1DF7C4B2D51B54225406D36B641F5E41BBC52A56612A8C6D14,
)
_K3 = (
    0x4BDA12F684BDA12F684BDA12F684BDA12F684BDA12F684BDA12F684B8E38E23C,
    0xC75E0C32D5CB7C0FA9D0A54B12A0A6D5647AB046D686DA6FDFFC90FC201D71A3,
    0x29A6194691F91A73715209EF6512E576722830A201BE2018A765E85A9ECEE931,
    0x2F684BDA12F684BDA12F684BDA12F684BDA12F684BDA12F684BDA12F38E38D84,
)
_K4 = (
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFF93B,
    0x7A06534BB8BDB49FD5E9E6632722C2989467C1BFC8E8D978DFB425D2685C2573,
    0x6484AA716545CA2CF3A70C3FA8FE337E0A3D21162F0D6299A7BF8192BFD2A76F,
)
_C1 = _mpz((P - 3) // 4)
_C2 = int(_powmod(_mpz(P - Z), (P + 1) // 4, P))  # sqrt(−Z)
_PM = _mpz(P)


def hash_to_field(msg: bytes, dst: bytes, count: int = 2) -> list[int]:
    data = expand_message_xmd(msg, dst, count * L)
    return [int.from_bytes(data[i * L : (i + 1) * L], "big") % P for i in range(count)]


def _sqrt_ratio(u: int, v: int) -> tuple[bool, int]:
    """Appendix F.2.1.2 (q ≡ 3 mod 4)."""
    tv1 = v * v % P
    tv2 = u * v % P
    tv1 = tv1 * tv2 % P
    y1 = int(_powmod(_mpz(tv1), _C1, _PM))
    y1 = y1 * tv2 % P
    y2 = y1 * _C2 % P
    is_qr = (y1 * y1 % P) * v % P == u % P
    return is_qr, (y1 if is_qr else y2)


def map_to_curve_sswu(u: int) -> tuple[int, int]:
    """§6.6.2 simplified SWU onto E' (straight-line form; Python is not constant-time)."""
    tv1 = Z * (u * u % P) % P
    tv2 = (tv1 * tv1 + tv1) % P
    tv3 = B_ISO * (tv2 + 1) % P
    tv4 = A_ISO * (Z if tv2 == 0 else (P - tv2)) % P
    tv2 = tv3 * tv3 % P
    tv6 = tv4 * tv4 % P
    tv5 = A_ISO * tv6 % P
    tv2 = (tv2 + tv5) * tv3 % P
    tv6 = tv6 * tv4 % P
    tv2 = (tv2 + B_ISO * tv6) % P
    x = tv1 * tv3 % P
    is_gx1_square, y1 = _sqrt_ratio(tv2, tv6)
    y = tv1 * u % P * y1 % P
    if is_gx1_square:
        x, y = tv3, y1
    if u % 2 != y % 2:
        y = (P - y) % P
    return x * _inv(tv4) % P, y


def iso_map(x: int, y: int) -> tuple[int, int]:
    """Appendix E.1: the 3-isogeny E' → secp256k1 (one inversion for both denominators)."""
    x2 = x * x % P
    x3 = x2 * x % P
    x_num = (_K1[3] * x3 + _K1[2] * x2 + _K1[1] * x + _K1[0]) % P
    x_den = (x2 + _K2[1] * x + _K2[0]) % P
    y_num = (_K3[3] * x3 + _K3[2] * x2 + _K3[1] * x + _K3[0]) % P
    y_den = (x3 + _K4[2] * x2 + _K4[1] * x + _K4[0]) % P
    inv = _inv(x_den * y_den % P)
    if inv == 0:
        raise ValueError("the isogeny maps this input to the identity")
    return x_num * y_den % P * inv % P, y * y_num % P * x_den % P * inv % P


def map_to_curve(u: int) -> tuple[int, int]:
    return iso_map(*map_to_curve_sswu(u))


def add(p: tuple[int, int], q: tuple[int, int]) -> tuple[int, int]:
    """Affine addition on secp256k1 (the identity is refused: it has no encoding here)."""
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        if (y1 + y2) % P == 0:
            raise ValueError("the sum is the identity")
        lam = 3 * x1 * x1 * _inv(2 * y1) % P
    else:
        lam = (y2 - y1) * _inv(x2 - x1) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def hash_to_curve(msg: bytes, dst: bytes) -> tuple[int, int]:
    """§3 hash_to_curve (random oracle): two field elements, two maps, one sum."""
    u0, u1 = hash_to_field(msg, dst)
    return add(map_to_curve(u0), map_to_curve(u1))


def encode(point: tuple[int, int], compressed: bool = True) -> bytes:
    x, y = point
    if compressed:
        return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
