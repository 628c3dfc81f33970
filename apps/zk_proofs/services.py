"""ZK-TX writes: propose a session under both tenants' pilot controls, register keys, accept
round-1 and round-2 uploads, and (in Celery workers) verify every proof, count and issue the
signed bundle. Audit payloads and logs carry ids and digests only — never selectors or
blinded values."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from apps.core.models import Tenant
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant, tenant_context

from .bundles import build_bundle
from .models import SELECTOR_TYPES, OverlapSession, Participation, PilotAgreement, PilotSettings
from .zk import group, proofs
from .zk.bundle import chunks_root, round1_message

MAX_POINTS = 65_536
CHUNK = 1024
BUCKETS = [2**i for i in range(7, 17)]  # 128 … 65,536


def _refuse(code: str, message: str, status: int = 400, **payload: Any) -> DomainError:
    """Audit a refusal in its own transaction (so it survives) and return the 4xx error."""
    with transaction.atomic():
        audit_record("zk.refused", payload={"code": code, **payload})
    error = {400: ValidationFailed, 403: PermissionDenied, 404: NotFound, 409: Conflict}[status]
    return error(message, code=code)


def _settings_of(tenant: Tenant) -> PilotSettings | None:
    return PilotSettings.all_tenants.filter(tenant=tenant).first()


def _agreement(tenant: Tenant, partner: Tenant, today: date) -> bool:
    return PilotAgreement.all_tenants.filter(
        tenant=tenant, partner=partner.slug, starts_on__lte=today, ends_on__gte=today
    ).exists()


def session_propose(
    *, actor: AbstractBaseUser, partner_slug: str, k: int, disclosure: str, selector_type: str
) -> Participation:
    """Propose a session to a partner tenant. Both tenants' pilot controls must allow it:
    feature on, not opted out, each other in scope, the selector type and disclosure mode
    allowed, k at least both floors, a current pilot agreement on each side, and the pair's
    daily quota not used up. Crossing tenants here is the point, hence ``all_tenants``."""
    me = require_current_tenant()
    partner = Tenant.objects.filter(slug=partner_slug, is_active=True).exclude(pk=me.pk).first()
    if partner is None:
        raise _refuse("partner_unknown", "No such partner tenant.", 404, partner=partner_slug)
    mine, theirs = _settings_of(me), _settings_of(partner)
    today = timezone.now().date()
    checks = [
        (
            mine is not None and mine.enabled and theirs is not None and theirs.enabled,
            "pilot_off",
            "The ZK-TX pilot is not enabled for both tenants.",
            403,
        ),
        (
            not (mine and mine.opted_out) and not (theirs and theirs.opted_out),
            "opted_out",
            "A tenant has opted out of ZK-TX sessions.",
            403,
        ),
        (
            bool(mine and theirs and partner.slug in mine.partners and me.slug in theirs.partners),
            "out_of_scope",
            "The partner is not in both tenants' pilot scope.",
            403,
        ),
        (
            selector_type in SELECTOR_TYPES
            and bool(
                mine and theirs and selector_type in mine.selector_types and selector_type in theirs.selector_types
            ),
            "selector_type",
            f"Selector type {selector_type!r} is not allowed by both pilots.",
            400,
        ),
        (
            bool(mine and theirs and disclosure in mine.disclosure_modes and disclosure in theirs.disclosure_modes),
            "disclosure",
            f"Disclosure mode {disclosure!r} is not allowed by both pilots.",
            400,
        ),
        (
            bool(mine and theirs and k >= max(mine.k_floor, theirs.k_floor)),
            "k_floor",
            f"k must be at least {max(mine.k_floor if mine else 0, theirs.k_floor if theirs else 0)}.",
            400,
        ),
        (
            _agreement(me, partner, today) and _agreement(partner, me, today),
            "no_agreement",
            "Both tenants need a current pilot agreement naming each other.",
            403,
        ),
    ]
    for ok, code, message, status in checks:
        if not ok:
            raise _refuse(code, message, status, partner=partner.slug)
    quota = min(mine.sessions_per_pair_per_day, theirs.sessions_per_pair_per_day)  # type: ignore[union-attr]
    since = timezone.now() - timedelta(days=1)
    used = (
        OverlapSession.objects.filter(created_at__gte=since, participations__tenant=me)
        .filter(participations__tenant=partner)
        .count()
    )
    if used >= quota:
        raise _refuse("quota", f"The pair's quota of {quota} sessions a day is used up.", 409, partner=partner.slug)
    with transaction.atomic():
        session = OverlapSession.objects.create(
            suite=proofs.SUITE, k=k, disclosure=disclosure, selector_type=selector_type
        )
        mine_part = Participation.objects.create(session=session, role="A", created_by=actor)
        audit_record(
            "zk.session_proposed",
            actor=actor,
            target=mine_part,
            payload={"session": str(session.public_id), "partner": partner.slug, "k": k, "disclosure": disclosure},
        )
        with tenant_context(partner):
            theirs_part = Participation.objects.create(session=session, role="B")
            audit_record(
                "zk.session_proposed",
                target=theirs_part,
                payload={"session": str(session.public_id), "partner": me.slug, "k": k, "disclosure": disclosure},
            )
    return mine_part


def participation_for(public_id: str) -> Participation:
    part = (
        Participation.objects.select_related("session").filter(session__public_id=public_id).first()
        if _uuid(public_id)
        else None
    )
    if part is None:
        raise NotFound("No such session.")
    return part


def _uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _counterpart(part: Participation) -> Participation:
    return Participation.all_tenants.select_related("tenant").get(
        session=part.session, role="B" if part.role == "A" else "A"
    )


def key_register(*, part: Participation, key_hex: str, proof: dict[str, str]) -> Participation:
    """Register X = x·G with a Schnorr proof of possession bound to tenant, session and suite
    (two scalar multiplications: constant work)."""
    b = group.backend()
    try:
        key = b.validate(bytes.fromhex(key_hex))
        ok = proofs.verify_possession(
            b, key, proofs.Proof.from_dict(proof), part.tenant.slug, str(part.session.public_id)
        )
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise _refuse(
            "bad_key_proof", "The key or its proof of possession is invalid.", 400, session=str(part.session.public_id)
        )
    with transaction.atomic():
        locked = Participation.objects.select_for_update().get(pk=part.pk)
        if locked.key:
            raise Conflict("A key is already registered for this session.", code="key_registered")
        locked.key, locked.key_proof = key.hex(), proof
        locked.save(update_fields=["key", "key_proof"])
        audit_record(
            "zk.key_registered",
            target=locked,
            payload={"session": str(part.session.public_id), "key_digest": hashlib.sha256(key).hexdigest()},
        )
        other = _counterpart(locked)
        if other.key:
            OverlapSession.objects.filter(pk=part.session_id).update(status=OverlapSession.Status.ROUND1)
    return locked


def _parse_points(chunks: Any, *, expected_sizes: list[int] | None = None) -> list[list[str]]:
    """Structural checks and point validation (libsecp256k1 parse: no scalar multiplication).
    Refuses identity encodings, off-curve points, bad sizes and unsorted round-1 chunks."""
    if not isinstance(chunks, list) or not chunks or not all(isinstance(c, list) and c for c in chunks):
        raise ValidationFailed("chunks must be a non-empty list of non-empty lists of points.", code="bad_upload")
    sizes = [len(c) for c in chunks]
    if sum(sizes) > MAX_POINTS or any(s > CHUNK for s in sizes):
        raise ValidationFailed(f"At most {MAX_POINTS} points, in chunks of at most {CHUNK}.", code="too_large")
    if expected_sizes is not None and sizes != expected_sizes:
        raise ValidationFailed(
            "round-2 chunks must mirror the counterpart's round-1 chunks one for one.", code="bad_shape"
        )
    b = group.backend()
    out = []
    for chunk in chunks:
        parsed = []
        for text in chunk:
            if not isinstance(text, str) or len(text) != 66:
                raise ValidationFailed("Every point is 33 bytes of compressed SEC1, in hex.", code="bad_point")
            try:
                parsed.append(b.validate(bytes.fromhex(text)).hex())
            except ValueError as exc:
                raise ValidationFailed("A point is not on secp256k1 or is the identity.", code="bad_point") from exc
        out.append(parsed)
    return out


def round1_upload(*, part: Participation, padded_size: int, chunks: Any, signature: dict[str, str]) -> Participation:
    """U_T = sorted x_T·H(s) over the padded set, in chunks, signed with x_T (Schnorr)."""
    session = part.session
    if not part.key:
        raise Conflict("Register the session key first.", code="no_key")
    if part.round1 is not None:
        raise _refuse(
            "replayed_round1", "Round 1 was already uploaded for this session.", 409, session=str(session.public_id)
        )
    mine = _settings_of(part.tenant)
    if padded_size not in BUCKETS:
        raise ValidationFailed(f"padded_size must be one of {BUCKETS}.", code="bad_padding")
    if mine is None or padded_size < mine.min_set_size:
        raise _refuse(
            "set_too_small",
            f"Sets must have at least {mine.min_set_size if mine else 0} elements (after padding).",
            400,
            session=str(session.public_id),
        )
    try:
        points = _parse_points(chunks)
    except ValidationFailed as exc:
        raise _refuse(exc.code, exc.message, 400, session=str(session.public_id)) from exc
    flat = [p for c in points for p in c]
    if len(flat) != padded_size:
        raise _refuse(
            "bad_padding", "The number of points must equal padded_size.", 400, session=str(session.public_id)
        )
    if flat != sorted(flat) or len(set(flat)) != len(flat):
        raise _refuse(
            "unsorted",
            "Round-1 points must be sorted and distinct (order must not leak input order).",
            400,
            session=str(session.public_id),
        )
    root = chunks_root(points)
    b = group.backend()
    message = round1_message(str(session.public_id), part.role, root, padded_size)
    try:
        ok = proofs.verify_signature(b, bytes.fromhex(part.key), proofs.Proof.from_dict(signature), message)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise _refuse(
            "bad_signature",
            "The round-1 signature does not verify with the session key.",
            400,
            session=str(session.public_id),
        )
    with transaction.atomic():
        locked = Participation.objects.select_for_update().get(pk=part.pk)
        if locked.round1 is not None:
            raise _refuse(
                "replayed_round1", "Round 1 was already uploaded for this session.", 409, session=str(session.public_id)
            )
        locked.round1 = {"padded_size": padded_size, "chunks": points, "signature": signature}
        locked.round1_root = root
        locked.save(update_fields=["round1", "round1_root"])
        audit_record(
            "zk.round1",
            target=locked,
            payload={"session": str(session.public_id), "root": root, "padded_size": padded_size},
        )
        if _counterpart(locked).round1 is not None:
            OverlapSession.objects.filter(pk=session.pk).update(status=OverlapSession.Status.ROUND2)
    return locked


def counterpart_round1(part: Participation) -> dict[str, Any]:
    """The counterpart's blinded set, to re-blind. Never the tenant's own doubly-blinded set."""
    other = _counterpart(part)
    if (
        part.session.status
        not in (OverlapSession.Status.ROUND2, OverlapSession.Status.VERIFYING, OverlapSession.Status.DONE)
        or other.round1 is None
    ):
        raise Conflict("The counterpart has not uploaded round 1 yet.", code="not_ready")
    return {
        "key": other.key,
        "padded_size": other.round1["padded_size"],
        "chunks": other.round1["chunks"],
        "root": other.round1_root,
    }


def round2_upload(*, part: Participation, chunks: Any, chunk_proofs: Any) -> Participation:
    """V = x_T·U_other in the same order, one batched DLEQ proof per chunk. Proofs are checked
    by workers (no scalar multiplication here); a second upload is a replay and is refused."""
    session = part.session
    if part.round2 is not None:
        raise _refuse(
            "replayed_round2", "Round 2 was already uploaded for this session.", 409, session=str(session.public_id)
        )
    other = counterpart_round1(part)
    try:
        points = _parse_points(chunks, expected_sizes=[len(c) for c in other["chunks"]])
        if not isinstance(chunk_proofs, list) or len(chunk_proofs) != len(points):
            raise ValidationFailed("One proof per chunk.", code="bad_proofs")
        parsed = [proofs.Proof.from_dict(p).as_dict() for p in chunk_proofs]
    except (ValidationFailed, ValueError, KeyError, TypeError) as exc:
        code = getattr(exc, "code", "bad_proofs")
        raise _refuse(
            code, getattr(exc, "message", "The proofs are malformed."), 400, session=str(session.public_id)
        ) from exc
    with transaction.atomic():
        locked = Participation.objects.select_for_update().get(pk=part.pk)
        if locked.round2 is not None:
            raise _refuse(
                "replayed_round2", "Round 2 was already uploaded for this session.", 409, session=str(session.public_id)
            )
        locked.round2 = {"chunks": points, "proofs": parsed}
        locked.round2_root = chunks_root(points)
        locked.save(update_fields=["round2", "round2_root"])
        audit_record(
            "zk.round2", target=locked, payload={"session": str(session.public_id), "root": locked.round2_root}
        )
        from .tasks import verify_round2

        tenant_id, pid = locked.tenant_id, locked.pk
        transaction.on_commit(lambda: verify_round2.delay(tenant_id, pid))
    return locked


def chunk_cache_key(key: str, session: str, index: int, us: list[str], vs: list[str], proof: dict[str, str]) -> str:
    h = hashlib.sha256(json.dumps([key, session, index, us, vs, proof], separators=(",", ":")).encode()).hexdigest()
    return f"zk:dleq:{h}"


def verify_round2(part_id: int) -> bool:
    """Worker: verify every chunk's DLEQ (cached per chunk by content hash); when both
    round 2s verify, count and issue the bundle."""
    part = Participation.objects.select_related("session").get(pk=part_id)
    session = part.session
    other = _counterpart(part)
    b = group.backend()
    key = bytes.fromhex(part.key)
    us_chunks, vs_chunks = other.round1["chunks"], part.round2["chunks"]
    ok = True
    for index, (us, vs, proof) in enumerate(zip(us_chunks, vs_chunks, part.round2["proofs"], strict=True)):
        cache_key = chunk_cache_key(part.key, str(session.public_id), index, us, vs, proof)
        if cache.get(cache_key):
            continue
        if not proofs.verify_dleq(
            b,
            key,
            [bytes.fromhex(u) for u in us],
            [bytes.fromhex(v) for v in vs],
            proofs.Proof.from_dict(proof),
            str(session.public_id),
            index,
        ):
            ok = False
            break
        cache.set(cache_key, True, timeout=7 * 24 * 3600)
    with transaction.atomic():
        if not ok:
            OverlapSession.objects.filter(pk=session.pk).update(
                status=OverlapSession.Status.FAILED,
                failure=f"round 2 of {part.role}: a chunk proof does not verify (wrong key or altered points)",
                finished_at=timezone.now(),
            )
            audit_record("zk.proof_failed", target=part, payload={"session": str(session.public_id), "role": part.role})
            return False
        Participation.objects.filter(pk=part.pk).update(round2_verified=True)
        audit_record("zk.round2_verified", target=part, payload={"session": str(session.public_id), "role": part.role})
    other = Participation.all_tenants.get(pk=other.pk)
    if other.round2_verified:
        evaluate(session.pk)
    return True


def evaluate(session_pk: int) -> OverlapSession:
    """Count |V_A ∩ V_B|, decide count ≤ k, sign the bundle. Runs once (conditional update)."""
    if (
        not OverlapSession.objects.filter(pk=session_pk)
        .exclude(status__in=["done", "failed", "verifying"])
        .update(status=OverlapSession.Status.VERIFYING)
    ):
        return OverlapSession.objects.get(pk=session_pk)
    session = OverlapSession.objects.get(pk=session_pk)
    parts = {p.role: p for p in Participation.all_tenants.select_related("tenant").filter(session=session)}
    v_a = {p for c in parts["B"].round2["chunks"] for p in c}  # x_B·(x_A·H(a)), computed by B
    v_b = {p for c in parts["A"].round2["chunks"] for p in c}  # x_A·(x_B·H(b)), computed by A
    count = len(v_a & v_b)
    bundle = build_bundle(session, parts, count)
    with transaction.atomic():
        OverlapSession.objects.filter(pk=session.pk).update(
            status=OverlapSession.Status.DONE,
            count=count,
            verdict=count <= session.k,
            bundle=bundle,
            bundle_digest=bundle["digest"],
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
                        "bundle": bundle["digest"],
                    },
                )
    return OverlapSession.objects.get(pk=session.pk)
