"""Zero-knowledge proofs for ZK-TX (pure; any backend).

* Schnorr proof of possession of a session key x for X = x·G, bound to the suite, the tenant
  and the session (so a key proof cannot be replayed into another session or suite).
* Batched DLEQ proof in the shape of RFC 9497 §2.2: one proof that V_i = x·U_i for every i in
  a chunk *and* X = x·G, using random-linear-combination composites M = Σ d_i·U_i and
  Z = Σ d_i·V_i whose weights d_i hash the session id, the chunk index, the position and both
  points; the Fiat–Shamir challenge hashes the session id and chunk index again. Swapping
  chunks, reordering points or moving a proof to another session therefore fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import h2c
from .group import Backend, N, hash_to_scalar, random_scalar

SUITE = "secp256k1-SHA256-v1"
DST_POP = f"TrustFabric-ZKTX-{SUITE}-PoP".encode()
DST_COMPOSITE = f"TrustFabric-ZKTX-{SUITE}-Composite".encode()
DST_CHALLENGE = f"TrustFabric-ZKTX-{SUITE}-Challenge".encode()
DST_SELECTOR = f"TrustFabric-ZKTX-{SUITE}-Selector-{h2c.SUITE}".encode()


def _i(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _s(k: int) -> str:
    return k.to_bytes(32, "big").hex()


@dataclass(frozen=True)
class Proof:
    c: int
    s: int

    def as_dict(self) -> dict[str, str]:
        return {"c": _s(self.c), "s": _s(self.s)}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Proof:
        c, s = int(data["c"], 16), int(data["s"], 16)
        if not (0 < c < N and 0 <= s < N):
            raise ValueError("proof scalars out of range")
        return cls(c, s)


def selector_point(b: Backend, selector: str) -> bytes:
    """H(s): the selector hashed to the curve (the tenant's side only; never the server)."""
    return b.hash_to_curve(selector.encode("utf-8"), DST_SELECTOR)


def _neg(k: int) -> int:
    return (-k) % N


def _lin(b: Backend, s: int, p: bytes, c: int, q: bytes) -> bytes:
    """s·P + c·Q (s may be zero)."""
    cq = b.mul(q, c)
    return cq if s % N == 0 else b.add(b.mul(p, s), cq)


def _g(b: Backend) -> bytes:
    return b.base_mul(1)


def prove_possession(b: Backend, x: int, key: bytes, tenant: str, session: str) -> Proof:
    k = random_scalar()
    r = b.base_mul(k)
    c = hash_to_scalar(SUITE.encode(), b"pop", tenant.encode(), session.encode(), key, r, dst=DST_POP)
    return Proof(c, (k + c * x) % N)


def verify_possession(b: Backend, key: bytes, proof: Proof, tenant: str, session: str) -> bool:
    try:
        b.validate(key)
        r = _lin(b, proof.s, _g(b), _neg(proof.c), key)  # R = s·G − c·X
    except ValueError:
        return False
    return proof.c == hash_to_scalar(SUITE.encode(), b"pop", tenant.encode(), session.encode(), key, r, dst=DST_POP)


def composites(
    b: Backend, key: bytes, us: list[bytes], vs: list[bytes], session: str, chunk: int
) -> tuple[bytes, bytes]:
    seed = hash_to_scalar(SUITE.encode(), key, session.encode(), _i(chunk), _i(len(us)), dst=DST_COMPOSITE).to_bytes(
        32, "big"
    )
    m = z = None
    for i, (u, v) in enumerate(zip(us, vs, strict=True)):
        d = hash_to_scalar(seed, _i(i), u, v, dst=DST_COMPOSITE)
        du, dv = b.mul(u, d), b.mul(v, d)
        m = du if m is None else b.add(m, du)
        z = dv if z is None else b.add(z, dv)
    if m is None or z is None:
        raise ValueError("a chunk cannot be empty")
    return m, z


def _challenge(key: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes, session: str, chunk: int) -> int:
    return hash_to_scalar(SUITE.encode(), key, m, z, t2, t3, session.encode(), _i(chunk), dst=DST_CHALLENGE)


def prove_dleq(b: Backend, x: int, key: bytes, us: list[bytes], vs: list[bytes], session: str, chunk: int) -> Proof:
    m, z = composites(b, key, us, vs, session, chunk)
    r = random_scalar()
    t2, t3 = b.base_mul(r), b.mul(m, r)
    c = _challenge(key, m, z, t2, t3, session, chunk)
    return Proof(c, (r - c * x) % N)


def verify_dleq(
    b: Backend, key: bytes, us: list[bytes], vs: list[bytes], proof: Proof, session: str, chunk: int
) -> bool:
    """Points must already be validated (the caller validates every point it received)."""
    try:
        m, z = composites(b, key, us, vs, session, chunk)
        t2 = _lin(b, proof.s, _g(b), proof.c, key)  # s·G + c·X
        t3 = _lin(b, proof.s, m, proof.c, z)  # s·M + c·Z
    except ValueError:
        return False
    return proof.c == _challenge(key, m, z, t2, t3, session, chunk)


def sign(b: Backend, x: int, key: bytes, message: bytes) -> Proof:
    """Schnorr signature with the session key (tenants sign their round-1 commitment)."""
    k = random_scalar()
    r = b.base_mul(k)
    c = hash_to_scalar(SUITE.encode(), b"sig", key, r, message, dst=DST_POP)
    return Proof(c, (k + c * x) % N)


def verify_signature(b: Backend, key: bytes, proof: Proof, message: bytes) -> bool:
    try:
        b.validate(key)
        r = _lin(b, proof.s, _g(b), _neg(proof.c), key)
    except ValueError:
        return False
    return proof.c == hash_to_scalar(SUITE.encode(), b"sig", key, r, message, dst=DST_POP)
