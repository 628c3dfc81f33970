"""Hash-to-curve for secp256k1 following RFC 9380 (pure integer arithmetic).

Suite ``secp256k1_XMD:SHA-256_SVDW_RO_``: expand_message_xmd with SHA-256 (§5.3.1),
hash_to_field to two elements of GF(p) with L = 48 (§5.2), the Shallue–van de Woestijne map
(§6.6.1, which works for A = 0 curves without an isogeny), the two points added, cofactor 1.
The RFC's registered secp256k1 suite uses SSWU through a 3-isogeny; SvdW is the RFC's general
method and is as sound a random oracle (§6.6.1), it just costs one more square root. Never
``g^hash(s)``: nobody learns a discrete log of any hashed selector.
"""

from __future__ import annotations

import hashlib

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
A, B = 0, 7
L = 48  # ceil((ceil(log2(p)) + k) / 8) with k = 128
SUITE = "secp256k1_XMD:SHA-256_SVDW_RO_"


def inv0(x: int) -> int:
    return pow(x, -1, P) if x % P else 0


def is_square(x: int) -> bool:
    return x % P == 0 or pow(x, (P - 1) // 2, P) == 1


def sqrt(x: int) -> int:
    """p ≡ 3 (mod 4)."""
    return pow(x, (P + 1) // 4, P)


def sgn0(x: int) -> int:
    return x % 2


def g(x: int) -> int:
    return (pow(x, 3, P) + A * x + B) % P


def _find_z() -> int:
    """RFC 9380 Appendix H.1 (find_z_svdw): the first Z in 1, -1, 2, -2, … that fits."""
    ctr = 1
    while True:
        for z in (ctr, -ctr % P):
            gz = g(z)
            h = (-(3 * z * z + 4 * A) * inv0(4 * gz)) % P if gz else 0
            if gz and h and is_square(h) and (is_square(gz) or is_square(g((-z * inv0(2)) % P))):
                return z
        ctr += 1


Z = _find_z()
C1 = g(Z)
C2 = (-Z * inv0(2)) % P
_c3 = sqrt((-C1 * (3 * Z * Z + 4 * A)) % P)
C3 = _c3 if sgn0(_c3) == 0 else P - _c3
C4 = (-4 * C1 * inv0(3 * Z * Z + 4 * A)) % P


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-256."""
    if len(dst) > 255:
        raise ValueError("DST too long")
    ell = -(-length // 32)
    if ell > 255 or length > 65535:
        raise ValueError("requested length too large")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha256(bytes(64) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    out = hashlib.sha256(b0 + b"\x01" + dst_prime).digest()
    blocks = [out]
    for i in range(2, ell + 1):
        prev = (int.from_bytes(b0, "big") ^ int.from_bytes(blocks[-1], "big")).to_bytes(32, "big")
        blocks.append(hashlib.sha256(prev + bytes([i]) + dst_prime).digest())
    return b"".join(blocks)[:length]


def hash_to_field(msg: bytes, dst: bytes, count: int = 2) -> list[int]:
    data = expand_message_xmd(msg, dst, count * L)
    return [int.from_bytes(data[i * L : (i + 1) * L], "big") % P for i in range(count)]


def map_to_curve_svdw(u: int) -> tuple[int, int]:
    """RFC 9380 §6.6.1, straight-line version (constant-time in shape; Python is not)."""
    tv1 = u * u % P
    tv1 = tv1 * C1 % P
    tv2 = (1 + tv1) % P
    tv1 = (1 - tv1) % P
    tv3 = inv0(tv1 * tv2 % P)
    tv4 = u * tv1 % P
    tv4 = tv4 * tv3 % P
    tv4 = tv4 * C3 % P
    # Same choice as the RFC's CMOV chain (x1 if g(x1) is square, else x2 if g(x2) is, else
    # x3), computed with one square root per candidate instead of a Legendre symbol plus a root.
    x1 = (C2 - tv4) % P
    gx = g(x1)
    y = sqrt(gx)
    x = x1
    if y * y % P != gx:
        x2 = (C2 + tv4) % P
        gx = g(x2)
        y = sqrt(gx)
        x = x2
        if y * y % P != gx:
            x3 = tv2 * tv2 % P
            x3 = x3 * tv3 % P
            x3 = x3 * x3 % P
            x = (x3 * C4 + Z) % P
            y = sqrt(g(x))
    if sgn0(u) != sgn0(y):
        y = P - y
    return x, y
