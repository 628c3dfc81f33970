"""Worker-side ZK-TX v2: verify every chunk's DLEQ proof (cached per chunk by content hash,
chunks spread over a process pool), then — once both round 2s verify and both tenants have
countersigned the statement — count |V_A ∩ V_B|, decide count ≤ k and issue the bundle.

Points come out of the sealed transcript in storage form (64-byte X‖Y) and are parsed once
into libsecp256k1 structs; each composite is one ``combine`` over all its terms."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from concurrent.futures import Executor
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.core.memo import Found
from apps.core.services import audit_record
from apps.core.tenancy import tenant_context

from . import chunk_pool as pool
from .bundles import build_bundle
from .chunk_pool import verify_chunk
from .models import OverlapSession, Participation
from .services import _counterpart, _raw_chunks

log = logging.getLogger(__name__)
_pool: Executor | None = None


def _map(jobs: list[Any]) -> list[bool]:
    """Chunks spread over the pool when there is more than one; if the pool cannot run, they
    are verified in this process (same answers, slower)."""
    global _pool
    processes = getattr(settings, "ZK_VERIFY_PROCESSES", os.cpu_count() or 1)
    if len(jobs) > 1 and processes > 1:
        try:
            if _pool is None:
                _pool = pool.executor(processes)
            return list(_pool.map(verify_chunk, jobs))
        except (
            AssertionError,
            OSError,
            RuntimeError,
        ) as exc:  # e.g. "daemonic processes are not allowed to have children"
            log.warning("zk: chunk pool unavailable (%s); verifying chunks sequentially", type(exc).__name__)
            _pool = None
    return [verify_chunk(job) for job in jobs]


def chunk_cache_key(job: tuple[Any, ...]) -> str:
    key, other_key, u_raw, v_raw, proof, session, index, role = job
    h = hashlib.sha256()
    for part in (
        key,
        other_key,
        u_raw,
        v_raw,
        proof["c"].encode(),
        proof["s"].encode(),
        session.encode(),
        str(index).encode(),
        role.encode(),
    ):
        h.update(len(part).to_bytes(4, "big") + part)
    return f"zk:v2:dleq:{h.hexdigest()}"


def verify_round2(part_id: int) -> bool:
    """Verify every chunk proof of one tenant's round 2; evaluate when everything is in."""
    part = Participation.objects.select_related("session").get(pk=part_id)
    session, sid = part.session, str(part.session.public_id)
    other = _counterpart(part)
    us_chunks, vs_chunks = _raw_chunks(other, "round1"), _raw_chunks(part, "round2")
    key, other_key = bytes.fromhex(part.key), bytes.fromhex(other.key)
    jobs = [
        (key, other_key, us, vs, proof, sid, index, part.role)
        for index, (us, vs, proof) in enumerate(zip(us_chunks, vs_chunks, part.round2["proofs"], strict=True))
    ]
    keys = [chunk_cache_key(job) for job in jobs]
    cached = cache.get_many(keys)
    todo = [i for i, k in enumerate(keys) if not cached.get(k)]
    results = _map([jobs[i] for i in todo])
    ok = all(results)
    if ok:
        cache.set_many({keys[i]: True for i in todo}, timeout=7 * 24 * 3600)
    with transaction.atomic():
        if not ok:
            OverlapSession.objects.filter(pk=session.pk).update(
                status=OverlapSession.Status.FAILED,
                failure=f"round 2 of {part.role}: a chunk proof does not verify (wrong key or altered points)",
                finished_at=timezone.now(),
            )
            audit_record("zk.proof_failed", target=part, payload={"session": sid, "role": part.role})
            return False
        Participation.objects.filter(pk=part.pk).update(round2_verified=True)
        audit_record("zk.round2_verified", target=part, payload={"session": sid, "role": part.role})
    evaluate(session.pk)
    return True


def evaluate(session_pk: int) -> OverlapSession:
    """Count, decide and sign — once both round 2s verified and both tenants countersigned.
    Runs at most once (conditional update claims it)."""
    parts = {p.role: p for p in Participation.all_tenants.select_related("tenant").filter(session_id=session_pk)}
    if len(parts) != 2 or not all(p.round2_verified and p.statement_signature for p in parts.values()):
        return OverlapSession.objects.get(pk=session_pk)
    prior = OverlapSession.objects.values_list("status", flat=True).get(pk=session_pk)
    if (
        not OverlapSession.objects.filter(pk=session_pk)
        .exclude(status__in=["done", "failed", "verifying"])
        .update(status=OverlapSession.Status.VERIFYING)
    ):
        return OverlapSession.objects.get(pk=session_pk)
    try:
        return _count_and_sign(session_pk, parts)
    except Exception:
        # e.g. a deadlock under load: give the claim back, so the task's retry can evaluate
        OverlapSession.objects.filter(pk=session_pk, status=OverlapSession.Status.VERIFYING).update(status=prior)
        raise


def _count_and_sign(session_pk: int, parts: dict[str, Participation]) -> OverlapSession:
    session = OverlapSession.objects.get(pk=session_pk)
    # x_B·(x_A·H(a)), computed by B, against x_A·(x_B·H(b)), computed by A
    v_a = {c[i : i + 64] for c in _raw_chunks(parts["B"], "round2") for i in range(0, len(c), 64)}
    v_b = {c[i : i + 64] for c in _raw_chunks(parts["A"], "round2") for i in range(0, len(c), 64)}
    count = len(v_a & v_b)
    bundle = build_bundle(session, parts, count)
    with transaction.atomic():
        OverlapSession.objects.filter(pk=session.pk).update(
            status=OverlapSession.Status.DONE,
            count=count,
            verdict=count <= session.k,
            bundle=bundle,
            bundle_digest=bundle_digest(bundle),
            finished_at=timezone.now(),
        )
        for part in parts.values():
            with tenant_context(part.tenant):
                audit_record(
                    "zk.verdict",
                    target=part,
                    payload={
                        "session": str(session.public_id),
                        "verdict": count <= session.k,
                        "bundle": bundle_digest(bundle),
                    },
                )
    return OverlapSession.objects.get(pk=session.pk)


def bundle_digest(bundle: dict[str, Any]) -> str:
    from .zk import bundle_v2

    return bundle_v2.header_digest(bundle["header"])


# --- Bundles handed back for checking (POST /api/zk/verify/) ---------------------------------


def bisect(items: list[Any], ok: Any) -> list[int]:
    """Indexes of the failing items: check the batch, split a failing batch in halves."""

    def walk(lo: int, hi: int) -> list[int]:
        if ok(items[lo:hi]):
            return []
        if hi - lo == 1:
            return [lo]
        mid = (lo + hi) // 2
        return walk(lo, mid) + walk(mid, hi)

    return walk(0, len(items)) if items else []


clock = time.monotonic  # tests move it
ISSUED_TTL = 300.0  # seconds a web process trusts its memory that a digest was issued
_issued: Found[str, bool] = Found(ISSUED_TTL, 100_000, clock=lambda: clock())


def issued_digests(digests: set[str]) -> set[str]:
    """Which of ``digests`` head a bundle this server issued for a finished session. A found
    digest stays found (a session does not leave ``done``), so it is remembered for
    ``ISSUED_TTL``; the database is asked only about the rest, in one query."""

    def fetch(missing: set[str]) -> dict[str, bool]:
        rows = OverlapSession.objects.filter(bundle_digest__in=missing, status="done")
        return dict.fromkeys(rows.values_list("bundle_digest", flat=True), True)

    return set(_issued.many(digests - {""}, fetch))


def forget_issued_digests() -> None:
    _issued.clear()
    _pinned.clear()
    _checked.clear()


_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# Long-term keys by fingerprint: a registered key's public key and tenant never change (a
# revoked key stays, so a bundle countersigned before the revocation still verifies).
_pinned: Found[str, dict[str, str]] = Found(ISSUED_TTL, 10_000, clock=lambda: clock())
# A bundle's check result by the SHA-256 of its JSON text: L0's (header digest, form ok) is a
# function of the bundle alone; an L1 pass is remembered only with the server key id and the
# pinned keys it was checked with (so it lasts no longer than their memory), for ISSUED_TTL.
_checked: Found[tuple[Any, ...], Any] = Found(ISSUED_TTL, 50_000, clock=lambda: clock())


def _text_key(bundle: Any) -> bytes:
    return hashlib.sha256(json.dumps(bundle, separators=(",", ":")).encode()).digest()


def pinned_keys(fingerprints: set[str]) -> dict[str, dict[str, str]]:
    """The registered long-term keys with these fingerprints, as trust-file entries."""
    from .models import TenantKey

    def fetch(missing: set[str]) -> dict[str, dict[str, str]]:
        rows = TenantKey.all_tenants.filter(fingerprint__in=missing).values_list(
            "fingerprint", "public_key", "tenant__slug"
        )
        # a row whose key does not hash to its fingerprint (edited in the database) pins nothing
        return {
            fp: {"tenant": slug, "public_key": key, "fingerprint": fp}
            for fp, key, slug in rows
            if _fingerprint_of(key) == fp
        }

    return _pinned.many({fp for fp in fingerprints if _FINGERPRINT.fullmatch(fp)}, fetch)


def _fingerprint_of(public_key_b64: str) -> str:
    import base64
    import binascii

    from .zk.v2 import fingerprint

    try:
        return fingerprint(base64.b64decode(public_key_b64, validate=True))
    except (binascii.Error, ValueError):
        return ""


def _named_fingerprints(bundle: Any) -> frozenset[str]:
    """The long-term key fingerprints a bundle's header names (the two roles only: a header
    is the caller's input, and a malformed one is refused by the check itself)."""
    from .zk.v2 import ROLES

    header = bundle.get("header")
    tenants = header.get("tenants") if isinstance(header, dict) else None
    if not isinstance(tenants, dict):
        return frozenset()
    parties = [tenants.get(role) for role in ROLES]
    fps = [t.get("tenant_key_fingerprint") for t in parties if isinstance(t, dict)]
    return frozenset(fp for fp in fps if isinstance(fp, str))


def verify_bundles(bundles: list[Any], level: str) -> list[int]:
    """The indexes of the bundles that do not verify. L0: each header digest is one this
    server issued for a finished session (one lookup for the batch). L1: server and tenant
    signatures (v1 bundles against the executor key, v2 against the pinned long-term keys the
    headers name). Each bundle is checked once, and a bundle checked before (the same JSON) is
    not checked again (``_checked``). A failing batch is bisected to name the bad bundles."""
    from apps.core.keys import signer

    from .zk import bundle as bundle_v1
    from .zk import bundle_v2

    keys = [_text_key(b) for b in bundles]
    if level == "L0":

        def form(i: int) -> tuple[str, bool]:
            b = bundles[i]
            try:
                digest = bundle_v2.header_digest(b["header"]) if isinstance(b.get("header"), dict) else ""
            except ValueError:  # no canonical form (an integer beyond 2**53): not a bundle we issued
                return "", False
            return digest, bundle_v2.schema_ok(b)

        checked = [_checked.one(("L0", k), lambda _k, i=i: form(i)) for i, k in enumerate(keys)]
        known = issued_digests({digest for digest, _ in checked})
        results = [digest in known and ok for digest, ok in checked]
    else:
        server = signer("executor").describe()
        named = [_named_fingerprints(b) for b in bundles]
        pinned = pinned_keys(set().union(*named))
        trust = bundle_v2.load_trust(
            {
                "type": bundle_v2.TRUST_TYPE,
                "server_keys": [{"key_id": server["key_id"], "public_key": server["public_key"]}],
                "tenant_keys": list(pinned.values()),
            }
        )
        server_key = server["public_key"]

        def one(b: Any) -> bool | None:  # None: not valid (a failure is not remembered)
            header = b.get("header")
            try:
                if isinstance(header, dict) and header.get("type") == "trustfabric/zktx-bundle/v1":
                    return not bundle_v1.verify_l1(b, server_key) or None
                return not bundle_v2.verify_l1(b, trust) or None
            except (ValueError, TypeError, AttributeError, KeyError):  # a shape no check expects
                return None

        def used(fps: frozenset[str]) -> tuple[Any, ...]:
            """The pinned keys a bundle's check reads: a pass is remembered only with them, so
            a key that changes or goes (once ``pinned_keys`` reloads it) is checked again."""
            return tuple(sorted((fp, *pinned[fp].values()) for fp in fps if fp in pinned))

        results = [
            bool(_checked.one(("L1:" + server["key_id"], k, used(fps)), lambda _k, b=b: one(b)))
            for b, k, fps in zip(bundles, keys, named, strict=True)
        ]
    return bisect(list(range(len(bundles))), lambda batch: all(results[i] for i in batch))
