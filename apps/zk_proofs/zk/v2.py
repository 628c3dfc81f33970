"""ZK-TX suite v2 (``secp256k1-SHA256-v2``): the proofs and encodings (pure; no Django).

What changed from v1, and why:

* Selectors hash to the curve with the registered RFC 9380 suite
  ``secp256k1_XMD:SHA-256_SSWU_RO_`` (``sswu.py``), so another implementation can interoperate.
* Batched DLEQ (RFC 9497 §2.2 shape) derives its per-element weights from a **seed that binds
  the whole chunk**: suite, session, chunk index, role, both session keys, the chunk length and
  a hash of every U and V point of the chunk (Davidson et al.). The weights are 128 bits — enough
  for 2⁻¹²⁸ soundness — which also makes each multiplication cheaper.
* Every encoding is strict: scalars are exactly 64 lower-case hex digits in range, points exactly
  66 lower-case hex digits of compressed SEC1; anything else is refused, never "fixed up".
* Tenants countersign a **statement** (session, k, disclosure, selector type, both tenants, both
  session keys, all four roots) with their long-term Ed25519 key.

Two implementations of DLEQ verification that must agree: ``verify_dleq_ref`` on any backend
(py_ecc for offline auditors) and ``verify_dleq_fast`` on parsed libsecp256k1 points.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from apps.core.crypto.canonical import canonicalize as jcs

from . import sswu
from .group import Backend, InvalidPoint, N, hash_to_scalar, random_scalar

SUITE = "secp256k1-SHA256-v2"
DST_SELECTOR = f"TrustFabric-ZKTX-V02-CS01-with-{sswu.SUITE}".encode()
DST_POP = f"TrustFabric-ZKTX-{SUITE}-PoP".encode()
DST_SIG = f"TrustFabric-ZKTX-{SUITE}-Sig".encode()
DST_CHALLENGE = f"TrustFabric-ZKTX-{SUITE}-Challenge".encode()
SEED_TAG = f"TrustFabric-ZKTX-{SUITE}-Seed".encode()
WEIGHTS_TAG = f"TrustFabric-ZKTX-{SUITE}-Weights".encode()
STATEMENT_CONTEXT = b"TrustFabric ZK-TX v2 transcript statement\n"
WEIGHT_BYTES = 16  # 128-bit weights

_SCALAR_HEX = re.compile(r"[0-9a-f]{64}")
_POINT_HEX = re.compile(r"0[23][0-9a-f]{64}")
ROLES = ("A", "B")


def _i(n: int) -> bytes:
    return n.to_bytes(8, "big")


def scalar_hex(k: int) -> str:
    return k.to_bytes(32, "big").hex()


def parse_scalar(text: Any, *, allow_zero: bool = False) -> int:
    """Exactly 64 lower-case hex digits, 0 < k < n (no ``0x``, no upper case, no padding)."""
    if not isinstance(text, str) or not _SCALAR_HEX.fullmatch(text):
        raise ValueError("a scalar is exactly 64 lower-case hex digits")
    k = int(text, 16)
    if k >= N or (k == 0 and not allow_zero):
        raise ValueError("scalar out of range")
    return k


def parse_point_hex(text: Any) -> bytes:
    """Exactly 66 lower-case hex digits of compressed SEC1 (validity is checked by the caller)."""
    if not isinstance(text, str) or not _POINT_HEX.fullmatch(text):
        raise ValueError("a point is exactly 66 lower-case hex digits of compressed SEC1")
    return bytes.fromhex(text)


@dataclass(frozen=True)
class Proof:
    c: int
    s: int

    def as_dict(self) -> dict[str, str]:
        return {"c": scalar_hex(self.c), "s": scalar_hex(self.s)}

    @classmethod
    def from_dict(cls, data: Any) -> Proof:
        if not isinstance(data, dict) or set(data) != {"c", "s"}:
            raise ValueError("a proof is exactly {c, s}")
        return cls(parse_scalar(data["c"]), parse_scalar(data["s"]))


def selector_point(selector: str) -> tuple[int, int]:
    """H(s) with the registered suite (affine; the tenant's side only, never the server)."""
    return sswu.hash_to_curve(selector.encode("utf-8"), DST_SELECTOR)


def blind_selectors(selectors: list[str], x: int) -> list[bytes]:
    """x·H(s) for each selector, compressed (the client's round 1)."""
    from . import fast

    points = fast.Points.parse([sswu.encode(selector_point(s), compressed=False) for s in selectors])
    return points.mul_all(x.to_bytes(32, "big")).compressed()


# -- Schnorr: proof of possession of the session key, signatures over round-1 commitments --


def prove_possession(b: Backend, x: int, key: bytes, tenant: str, session: str) -> Proof:
    k = random_scalar()
    r = b.base_mul(k)
    c = hash_to_scalar(SUITE.encode(), b"pop", tenant.encode(), session.encode(), key, r, dst=DST_POP)
    return Proof(c, (k + c * x) % N)


def _schnorr_r(b: Backend, key: bytes, proof: Proof) -> bytes:
    b.validate(key)
    return b.add(b.base_mul(proof.s), b.mul(key, (-proof.c) % N))  # R = s·G − c·X


def verify_possession(b: Backend, key: bytes, proof: Proof, tenant: str, session: str) -> bool:
    try:
        r = _schnorr_r(b, key, proof)
    except ValueError:
        return False
    return proof.c == hash_to_scalar(SUITE.encode(), b"pop", tenant.encode(), session.encode(), key, r, dst=DST_POP)


def sign(b: Backend, x: int, key: bytes, message: bytes) -> Proof:
    """Schnorr signature with the session key (a tenant signs its round-1 commitment)."""
    k = random_scalar()
    r = b.base_mul(k)
    c = hash_to_scalar(SUITE.encode(), b"sig", key, r, message, dst=DST_SIG)
    return Proof(c, (k + c * x) % N)


def verify_signature(b: Backend, key: bytes, proof: Proof, message: bytes) -> bool:
    try:
        r = _schnorr_r(b, key, proof)
    except ValueError:
        return False
    return proof.c == hash_to_scalar(SUITE.encode(), b"sig", key, r, message, dst=DST_SIG)


def round1_message(session: str, role: str, tenant: str, key_hex: str, root: str, padded_size: int) -> bytes:
    return f"zktx-round1|{SUITE}|{session}|{role}|{tenant}|{key_hex}|{root}|{padded_size}".encode()


# -- Batched DLEQ with chunk-bound weights --


def chunk_seed(
    session: str, chunk: int, role: str, key: bytes, other_key: bytes, us: list[bytes], vs: list[bytes]
) -> bytes:
    """The seed of the weights: binds suite, session, chunk, role, both keys and every point."""
    if len(us) != len(vs) or not us:
        raise ValueError("a chunk holds one V per U, and at least one")
    points = hashlib.sha256(b"".join(us) + b"".join(vs)).digest()
    h = hashlib.sha256()
    for part in (
        SEED_TAG,
        SUITE.encode(),
        session.encode(),
        _i(chunk),
        role.encode(),
        key,
        other_key,
        _i(len(us)),
        points,
    ):
        h.update(len(part).to_bytes(4, "big") + part)
    return h.digest()


def weight_bytes(seed: bytes, n: int) -> list[bytes]:
    """The n weights as 32-byte big-endian scalars: SHAKE-128 of the seed, 16 bytes (128 bits)
    per weight, in one call (a zero weight, probability 2⁻¹²⁸, becomes 1)."""
    stream = hashlib.shake_128(WEIGHTS_TAG + seed).digest(WEIGHT_BYTES * n)
    pad = bytes(32 - WEIGHT_BYTES)
    out = [pad + stream[i : i + WEIGHT_BYTES] for i in range(0, WEIGHT_BYTES * n, WEIGHT_BYTES)]
    return [w if any(w) else bytes(31) + b"\x01" for w in out]


def weights(seed: bytes, n: int) -> list[int]:
    return [int.from_bytes(w, "big") for w in weight_bytes(seed, n)]


def _challenge(seed: bytes, key: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes) -> int:
    return hash_to_scalar(SUITE.encode(), b"dleq", seed, key, m, z, t2, t3, dst=DST_CHALLENGE)


def composites_ref(b: Backend, us: list[bytes], vs: list[bytes], ds: list[int]) -> tuple[bytes, bytes]:
    m = z = None
    for u, v, d in zip(us, vs, ds, strict=True):
        du, dv = b.mul(u, d), b.mul(v, d)
        m = du if m is None else b.add(m, du)
        z = dv if z is None else b.add(z, dv)
    assert m is not None and z is not None
    return m, z


def prove_dleq(
    b: Backend,
    x: int,
    key: bytes,
    other_key: bytes,
    us: list[bytes],
    vs: list[bytes],
    session: str,
    chunk: int,
    role: str,
) -> Proof:
    seed = chunk_seed(session, chunk, role, key, other_key, us, vs)
    m, z = (
        composites_ref(b, us, vs, weights(seed, len(us))) if b.name != "coincurve" else _fast_composites(us, vs, seed)
    )
    r = random_scalar()
    t2, t3 = b.base_mul(r), b.mul(m, r)
    c = _challenge(seed, key, m, z, t2, t3)
    return Proof(c, (r - c * x) % N)


def _fast_composites(us: list[bytes], vs: list[bytes], seed: bytes) -> tuple[bytes, bytes]:
    from . import fast

    ws = weight_bytes(seed, len(us))
    m = fast.compress(fast.Points.parse(us).composite(ws))
    z = fast.compress(fast.Points.parse(vs).composite(ws))
    return m, z


def verify_dleq_ref(
    b: Backend,
    key: bytes,
    other_key: bytes,
    us: list[bytes],
    vs: list[bytes],
    proof: Proof,
    session: str,
    chunk: int,
    role: str,
) -> bool:
    """Reference verification on any backend (points compressed and already validated)."""
    try:
        seed = chunk_seed(session, chunk, role, key, other_key, us, vs)
        m, z = composites_ref(b, us, vs, weights(seed, len(us)))
        t2 = b.add(b.base_mul(proof.s), b.mul(key, proof.c))  # s·G + c·X
        t3 = b.add(b.mul(m, proof.s), b.mul(z, proof.c))  # s·M + c·Z
    except ValueError:
        return False
    return proof.c == _challenge(seed, key, m, z, t2, t3)


def verify_dleq_fast(
    key: bytes, other_key: bytes, u_points: Any, v_points: Any, proof: Proof, session: str, chunk: int, role: str
) -> bool:
    """Fast verification on parsed points (``fast.Points``): 2n in-place multiplications, two
    combines, then four multiplications for t2 and t3."""
    from . import fast

    try:
        us, vs = u_points.compressed(), v_points.compressed()
        seed = chunk_seed(session, chunk, role, key, other_key, us, vs)
        ws = weight_bytes(seed, len(us))
        m, z = u_points.composite(ws), v_points.composite(ws)
        t2 = fast.base_lin(proof.s, proof.c, key)
        t3 = fast.lin(proof.s, m, proof.c, z)
    except (ValueError, InvalidPoint):
        return False
    return proof.c == _challenge(seed, key, fast.compress(m), fast.compress(z), fast.compress(t2), fast.compress(t3))


# -- The countersigned statement --


def statement(
    *,
    session: str,
    k: int,
    disclosure: str,
    selector_type: str,
    tenants: dict[str, str],
    keys: dict[str, str],
    padded_sizes: dict[str, int],
    roots: dict[str, dict[str, str]],
) -> dict[str, Any]:
    return {
        "type": "trustfabric/zktx-statement/v2",
        "suite": SUITE,
        "session": session,
        "k": k,
        "disclosure": disclosure,
        "selector_type": selector_type,
        "tenants": {r: tenants[r] for r in ROLES},
        "keys": {r: keys[r] for r in ROLES},
        "padded_sizes": {r: padded_sizes[r] for r in ROLES},
        "roots": {r: {"round1": roots[r]["round1"], "round2": roots[r]["round2"]} for r in ROLES},
    }


def statement_bytes(stmt: dict[str, Any]) -> bytes:
    """What a tenant's long-term Ed25519 key signs: a context string and the RFC 8785 form."""
    return STATEMENT_CONTEXT + jcs(stmt)


def fingerprint(public_raw: bytes) -> str:
    """A long-term key's fingerprint: SHA-256 of the raw 32-byte Ed25519 public key, hex."""
    return hashlib.sha256(public_raw).hexdigest()
