"""ZK-TX writes: propose a session under both tenants' pilot controls, register fresh session
keys, accept round-1 and round-2 uploads (sealed at rest), and take both tenants'
countersignatures of the round-2 statement. Verification, counting and the bundle run in
workers (``verification.py``). Every refusal is audited; audit payloads and logs carry ids and
digests only — never selectors or blinded values."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from apps.core.ids import is_uuid
from apps.core.models import Tenant
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant, tenant_context

from . import quotas, sealing
from .models import OverlapSession, Participation, PilotAgreement, PilotSettings, TenantKey
from .zk import bundle_v2, fast, group, v2
from .zk.group import InvalidPoint

MAX_POINTS = 65_536
CHUNK = 1024
BUCKETS = [2**i for i in range(7, 17)]  # 128 … 65,536


def _refuse(code: str, message: str, status: int = 400, details: Any = None, **payload: Any) -> DomainError:
    """Audit a refusal in its own transaction (so it survives a rollback of the caller) and
    return the 4xx error. Payloads carry codes, ids and field names — never submitted values."""
    with transaction.atomic():
        audit_record("zk.refused", payload={"code": code, **payload})
    error = {400: ValidationFailed, 403: PermissionDenied, 404: NotFound, 409: Conflict}[status]
    return error(message, code=code, details=details)


def refuse_invalid_request(errors: dict[str, Any], session: str | None = None) -> DomainError:
    """A serializer refusal, audited like every other (field names only, no values)."""
    fields = sorted(errors) if isinstance(errors, dict) else []
    extra = {"session": session} if session else {}
    return _refuse(
        "validation_error", "The request has invalid fields; see details.", 400, details=errors, fields=fields, **extra
    )


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
    refusal = PilotSettings.pair_refusal(
        mine, theirs, me=me.slug, partner=partner.slug, k=k, disclosure=disclosure, selector_type=selector_type
    )
    if refusal is None and not (_agreement(me, partner, today) and _agreement(partner, me, today)):
        refusal = ("no_agreement", "Both tenants need a current pilot agreement naming each other.", 403)
    if refusal is not None:
        raise _refuse(*refusal, partner=partner.slug)
    count_min_k = max(mine.count_min_k, theirs.count_min_k)  # type: ignore[union-attr]
    if disclosure == "verdict_and_count" and k < count_min_k:
        # Padding counts toward the set-size floor, so a tenant with one real selector and its
        # own dummies would learn membership from a released count; the pilot decides from
        # which k a count is worth that risk.
        raise _refuse(
            "count_not_allowed",
            f"The count may be disclosed only when k is at least {count_min_k}; use verdict only.",
            400,
            partner=partner.slug,
        )
    for tenant in (me, partner):
        if not TenantKey.all_tenants.filter(tenant=tenant, revoked_at__isnull=True).exists():
            raise _refuse(
                "no_tenant_key",
                f"Tenant {tenant.slug} has no registered long-term key to countersign with.",
                409,
                partner=partner.slug,
            )
    # Token buckets (429 with Retry-After, quotas.py): the pair's and the tenant's sessions a day.
    since = timezone.now() - timedelta(days=1)
    quotas.take(
        [
            quotas.per_day(
                "pair.sessions_per_day",
                f"p{quotas.pair_key(me, partner)}:sessions",
                min(mine.sessions_per_pair_per_day, theirs.sessions_per_pair_per_day),  # type: ignore[union-attr]
            ),
            quotas.per_day("tenant.sessions_per_day", f"t{me.pk}:sessions", mine.sessions_per_day),  # type: ignore[union-attr]
        ]
    )
    if disclosure == "verdict_and_count":
        count_quota = min(mine.count_releases_per_pair_per_day, theirs.count_releases_per_pair_per_day)  # type: ignore[union-attr]
        releases = (
            OverlapSession.objects.filter(
                created_at__gte=since, disclosure="verdict_and_count", participations__tenant=me
            )
            .filter(participations__tenant=partner)
            .exclude(status=OverlapSession.Status.FAILED)
            .count()
        )
        if releases >= count_quota:
            raise _refuse(
                "count_quota",
                f"The pair's quota of {count_quota} count releases a day is used up; use verdict only.",
                409,
                partner=partner.slug,
            )
    with transaction.atomic():
        session = OverlapSession(suite=v2.SUITE, k=k, disclosure=disclosure, selector_type=selector_type)
        session.data_key_wrapped, session.kek_id = sealing.new_wrapped_data_key(str(session.public_id))
        session.save()
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
        if is_uuid(public_id)
        else None
    )
    if part is None:
        raise NotFound("No such session.")
    return part


# What a status poll and the session list show, for the current tenant's side of a session:
# one indexed join of these columns, straight SQL (polls are a third of pilot traffic and the
# list another twentieth, and the ORM spends longer compiling these queries than PostgreSQL
# spends answering them). ``participation_state`` reads the same fields from a loaded row;
# tests check both agree at every step of a session.
STATE_FIELDS = (
    "session", "role", "status", "k", "disclosure", "selector_type", "suite", "failure", "verdict", "count",
    "bundle_digest", "key_registered", "round1_uploaded", "round2_uploaded", "statement_countersigned",
)  # fmt: skip


def _state_sql(where: str) -> str:
    # table names from the models' metadata; every value is a parameter
    p, s = Participation._meta.db_table, OverlapSession._meta.db_table
    columns = (
        "s.public_id, p.role, s.status, s.k, s.disclosure, s.selector_type, s.suite, s.failure, s.verdict, "
        "s.count, s.bundle_digest, p.key <> '', p.round1 IS NOT NULL, p.round2 IS NOT NULL, "
        "p.statement_signature <> ''"
    )
    return f"SELECT {columns} FROM {p} p JOIN {s} s ON s.id = p.session_id WHERE p.tenant_id = %s {where}"  # noqa: S608


def _state_of(row: tuple[Any, ...]) -> dict[str, Any]:
    state = dict(zip(STATE_FIELDS, row, strict=True))
    state["session"] = str(OverlapSession._meta.get_field("public_id").to_python(state["session"]))
    for flag in ("verdict", "key_registered", "round1_uploaded", "round2_uploaded", "statement_countersigned"):
        state[flag] = None if state[flag] is None else bool(state[flag])  # SQLite answers 0/1
    return state


def session_state_for(public_id: str) -> dict[str, Any]:
    """The poll's fields of the current tenant's side of a session; another tenant's session
    is a 404 like any other unknown id."""
    import uuid

    from django.db import connection

    if not is_uuid(public_id):
        raise NotFound("No such session.")
    field = OverlapSession._meta.get_field("public_id")
    with connection.cursor() as cursor:
        cursor.execute(
            _state_sql("AND s.public_id = %s"),
            [require_current_tenant().pk, field.get_db_prep_value(uuid.UUID(str(public_id)), connection)],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such session.")
    return _state_of(row)


class SessionStates:
    """The current tenant's sessions, newest first, as poll states: what the API's paginator
    counts and slices, each in one straight-SQL query."""

    def __init__(self) -> None:
        self.tenant_id = require_current_tenant().pk

    def count(self) -> int:
        from django.db import connection

        with connection.cursor() as cursor:
            table = Participation._meta.db_table
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE tenant_id = %s", [self.tenant_id])  # noqa: S608
            return int(cursor.fetchone()[0])

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        from django.db import connection

        start, stop = window.start or 0, window.stop
        assert window.step is None and stop is not None and 0 <= start <= stop, window
        with connection.cursor() as cursor:
            cursor.execute(
                _state_sql("ORDER BY s.created_at DESC, p.id DESC LIMIT %s OFFSET %s"),
                [self.tenant_id, stop - start, start],
            )
            return [_state_of(row) for row in cursor.fetchall()]


def participation_state(part: Participation) -> dict[str, Any]:
    s = part.session
    return {
        "session": str(s.public_id),
        "role": part.role,
        "status": s.status,
        "k": s.k,
        "disclosure": s.disclosure,
        "selector_type": s.selector_type,
        "suite": s.suite,
        "failure": s.failure,
        "verdict": s.verdict,
        "count": s.count,
        "bundle_digest": s.bundle_digest,
        "key_registered": bool(part.key),
        "round1_uploaded": part.round1 is not None,
        "round2_uploaded": part.round2 is not None,
        "statement_countersigned": bool(part.statement_signature),
    }


def bundle_for(public_id: str) -> dict[str, Any] | None:
    """The signed bundle of one of the current tenant's sessions (``None`` before it is done),
    without loading either side's rounds; another tenant's session is a 404."""
    if not is_uuid(public_id):
        raise NotFound("No such session.")
    mine = Participation.objects.filter(session__public_id=public_id)
    rows = list(mine.values_list("session__bundle", flat=True)[:1])
    if not rows:
        raise NotFound("No such session.")
    return rows[0]


def _counterpart(part: Participation) -> Participation:
    return Participation.all_tenants.select_related("tenant").get(
        session=part.session, role="B" if part.role == "A" else "A"
    )


def _sid(part: Participation) -> str:
    return str(part.session.public_id)


def key_register(*, part: Participation, key_hex: str, proof: dict[str, str]) -> Participation:
    """Register a fresh session key X = x·G with a Schnorr proof of possession bound to tenant,
    session and suite (constant work). A key seen before — in any session, tenant or suite —
    is refused with 409 ``key_reused``: the explainer promises a fresh key per session."""
    b = group.backend()
    try:
        key = b.validate(v2.parse_point_hex(key_hex))
        ok = v2.verify_possession(b, key, v2.Proof.from_dict(proof), part.tenant.slug, _sid(part))
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise _refuse("bad_key_proof", "The key or its proof of possession is invalid.", 400, session=_sid(part))
    if part.key:
        raise _refuse("key_registered", "A key is already registered for this session.", 409, session=_sid(part))
    if Participation.all_tenants.filter(key=key.hex()).exists():
        raise _refuse(
            "key_reused", "This key was registered before; every session needs a fresh key.", 409, session=_sid(part)
        )
    try:
        with transaction.atomic():
            # The session row is the lock both tenants take, so exactly one of two concurrent
            # uploads sees the other's and moves the session on.
            OverlapSession.objects.select_for_update().get(pk=part.session_id)
            locked = Participation.objects.select_for_update().get(pk=part.pk)
            if locked.key:
                raise Conflict("A key is already registered for this session.", code="key_registered")
            locked.key, locked.key_proof = key.hex(), proof
            locked.save(update_fields=["key", "key_proof"])
            audit_record(
                "zk.key_registered",
                target=locked,
                payload={"session": _sid(part), "key_digest": hashlib.sha256(key).hexdigest()},
            )
            if _counterpart(locked).key:
                OverlapSession.objects.filter(pk=part.session_id).update(status=OverlapSession.Status.ROUND1)
    except IntegrityError as exc:  # a concurrent registration of the same key lost the race
        raise _refuse(
            "key_reused", "This key was registered before; every session needs a fresh key.", 409, session=_sid(part)
        ) from exc
    return locked


def _parse_points(chunks: Any, *, expected_sizes: list[int] | None = None) -> tuple[list[list[str]], bytes]:
    """Structural checks and point validation (libsecp256k1 parse: no scalar multiplication).
    Returns the chunks (hex, as signed) and the points in storage form (64-byte X‖Y each)."""
    if not isinstance(chunks, list) or not chunks or not all(isinstance(c, list) and c for c in chunks):
        raise ValidationFailed("chunks must be a non-empty list of non-empty lists of points.", code="bad_upload")
    sizes = [len(c) for c in chunks]
    if sum(sizes) > MAX_POINTS or any(s > CHUNK for s in sizes):
        raise ValidationFailed(f"At most {MAX_POINTS} points, in chunks of at most {CHUNK}.", code="too_large")
    if expected_sizes is not None and sizes != expected_sizes:
        raise ValidationFailed(
            "round-2 chunks must mirror the counterpart's round-1 chunks one for one.", code="bad_shape"
        )
    try:
        encoded = [v2.parse_point_hex(text) for chunk in chunks for text in chunk]
    except ValueError as exc:
        raise ValidationFailed("Every point is 66 lower-case hex digits of compressed SEC1.", code="bad_point") from exc
    try:
        raw = b"".join(fast.Points.parse(encoded).raw())
    except InvalidPoint as exc:
        raise ValidationFailed("A point is not on secp256k1 or is the identity.", code="bad_point") from exc
    return chunks, raw


def _raw_chunks(part: Participation, label: str) -> list[bytes]:
    """A round's points in storage form, chunk by chunk (opens the sealed transcript)."""
    session = part.session
    meta = part.round1 if label == "round1" else part.round2
    blob = part.round1_sealed if label == "round1" else part.round2_sealed
    raw = sealing.open_sealed(session.data_key_wrapped, str(session.public_id), f"{part.role}|{label}", blob)
    out, offset = [], 0
    for size in meta["sizes"]:
        out.append(raw[offset : offset + 64 * size])
        offset += 64 * size
    return out


def round1_upload(*, part: Participation, padded_size: int, chunks: Any, signature: Any) -> Participation:
    """U_T = sorted x_T·H(s) over the padded set, in chunks, signed with x_T (Schnorr) over
    the suite, session, role, tenant, key, root and padded size. Sealed at rest."""
    session, sid = part.session, _sid(part)
    if not part.key:
        raise _refuse("no_key", "Register the session key first.", 409, session=sid)
    if part.round1 is not None:
        raise _refuse("replayed_round1", "Round 1 was already uploaded for this session.", 409, session=sid)
    mine = _settings_of(part.tenant)
    if padded_size not in BUCKETS:
        raise _refuse("bad_padding", f"padded_size must be one of {BUCKETS}.", 400, session=sid)
    if mine is None or padded_size < mine.min_set_size:
        raise _refuse(
            "set_too_small",
            f"Sets must have at least {mine.min_set_size if mine else 0} elements (after padding).",
            400,
            session=sid,
        )
    try:
        points, raw = _parse_points(chunks)
    except ValidationFailed as exc:
        raise _refuse(exc.code, exc.message, 400, session=sid) from exc
    flat = [p for c in points for p in c]
    if len(flat) != padded_size:
        raise _refuse("bad_padding", "The number of points must equal padded_size.", 400, session=sid)
    if flat != sorted(flat) or len(set(flat)) != len(flat):
        raise _refuse(
            "unsorted",
            "Round-1 points must be sorted and distinct (order must not leak input order).",
            400,
            session=sid,
        )
    root = bundle_v2.chunks_root(points)
    message = v2.round1_message(sid, part.role, part.tenant.slug, part.key, root, padded_size)
    try:
        parsed = v2.Proof.from_dict(signature)
        ok = v2.verify_signature(group.backend(), bytes.fromhex(part.key), parsed, message)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise _refuse("bad_signature", "The round-1 signature does not verify with the session key.", 400, session=sid)
    sealed = sealing.seal(session.data_key_wrapped, sid, f"{part.role}|round1", raw)
    with transaction.atomic():
        OverlapSession.objects.select_for_update().get(pk=session.pk)  # see key_register
        locked = Participation.objects.select_for_update().get(pk=part.pk)
        if locked.round1 is not None:
            raise _refuse("replayed_round1", "Round 1 was already uploaded for this session.", 409, session=sid)
        locked.round1 = {"padded_size": padded_size, "sizes": [len(c) for c in points], "signature": parsed.as_dict()}
        locked.round1_root, locked.round1_sealed = root, sealed
        locked.save(update_fields=["round1", "round1_root", "round1_sealed"])
        audit_record("zk.round1", target=locked, payload={"session": sid, "root": root, "padded_size": padded_size})
        if _counterpart(locked).round1 is not None:
            OverlapSession.objects.filter(pk=session.pk).update(status=OverlapSession.Status.ROUND2)
    return locked


def counterpart_round1(part: Participation) -> dict[str, Any]:
    """The counterpart's blinded set, to re-blind. Never the tenant's own doubly-blinded set."""
    other = _counterpart(part)
    # Your own round 1 comes first: a tenant that saw the other set first could pick its own.
    if part.round1 is None or other.round1 is None or part.session.status == OverlapSession.Status.FAILED:
        raise _refuse("not_ready", "The counterpart has not uploaded round 1 yet.", 409, session=_sid(part))
    if part.session.transcript_deleted_at:
        raise _refuse(
            "transcript_deleted", "This session's transcript was deleted (retention).", 409, session=_sid(part)
        )
    chunks = [
        [fast.compress(raw[i : i + 64]).hex() for i in range(0, len(raw), 64)] for raw in _raw_chunks(other, "round1")
    ]
    return {
        "key": other.key,
        "tenant": other.tenant.slug,
        "padded_size": other.round1["padded_size"],
        "chunks": chunks,
        "root": other.round1_root,
    }


def round2_upload(*, part: Participation, chunks: Any, chunk_proofs: Any) -> Participation:
    """V = x_T·U_other in the same order, one batched DLEQ proof per chunk. Proofs are checked
    by workers (no scalar multiplication here); a second upload is a replay and is refused."""
    session, sid = part.session, _sid(part)
    if part.round2 is not None:
        raise _refuse("replayed_round2", "Round 2 was already uploaded for this session.", 409, session=sid)
    other = _counterpart(part)
    if other.round1 is None or part.round1 is None:
        raise _refuse("not_ready", "Both round-1 uploads come first.", 409, session=sid)
    try:
        points, raw = _parse_points(chunks, expected_sizes=other.round1["sizes"])
        if not isinstance(chunk_proofs, list) or len(chunk_proofs) != len(points):
            raise ValidationFailed("One proof per chunk.", code="bad_proofs")
        parsed = [v2.Proof.from_dict(p).as_dict() for p in chunk_proofs]  # stored re-encoded
    except (ValidationFailed, ValueError, KeyError, TypeError) as exc:
        code = getattr(exc, "code", "bad_proofs")
        raise _refuse(code, getattr(exc, "message", "The proofs are malformed."), 400, session=sid) from exc
    sealed = sealing.seal(session.data_key_wrapped, sid, f"{part.role}|round2", raw)
    with transaction.atomic():
        OverlapSession.objects.select_for_update().get(pk=session.pk)  # see key_register
        locked = Participation.objects.select_for_update().get(pk=part.pk)
        if locked.round2 is not None:
            raise _refuse("replayed_round2", "Round 2 was already uploaded for this session.", 409, session=sid)
        locked.round2 = {"sizes": [len(c) for c in points], "proofs": parsed}
        locked.round2_root, locked.round2_sealed = bundle_v2.chunks_root(points), sealed
        locked.save(update_fields=["round2", "round2_root", "round2_sealed"])
        audit_record("zk.round2", target=locked, payload={"session": sid, "root": locked.round2_root})
        from .tasks import queue_round2

        tenant_id, pid, cost = locked.tenant_id, locked.pk, float(len(parsed))
        transaction.on_commit(lambda: queue_round2(tenant_id, pid, cost))
    return locked


def statement_for(part: Participation) -> dict[str, Any]:
    """The round-2 transcript statement both tenants countersign: session, k, disclosure,
    selector type, both tenants, both session keys, both padded sizes and all four roots."""
    session = OverlapSession.objects.get(pk=part.session_id)
    if session.statement:
        return session.statement
    parts = {p.role: p for p in Participation.all_tenants.select_related("tenant").filter(session=session)}
    if any(p.round2 is None for p in parts.values()):
        raise _refuse("not_ready", "The statement exists once both round-2 uploads are in.", 409, session=_sid(part))
    stmt = v2.statement(
        session=str(session.public_id),
        k=session.k,
        disclosure=session.disclosure,
        selector_type=session.selector_type,
        tenants={r: p.tenant.slug for r, p in parts.items()},
        keys={r: p.key for r, p in parts.items()},
        padded_sizes={r: p.round1["padded_size"] for r, p in parts.items()},
        roots={r: {"round1": p.round1_root, "round2": p.round2_root} for r, p in parts.items()},
    )
    OverlapSession.objects.filter(pk=session.pk, statement__isnull=True).update(statement=stmt)
    return OverlapSession.objects.get(pk=session.pk).statement


def statement_countersign(*, part: Participation, fingerprint: str, signature: str) -> Participation:
    """Take the tenant's Ed25519 countersignature of the statement, made with one of its
    registered long-term keys (named by fingerprint). Evaluation waits for both."""
    sid = _sid(part)
    if part.statement_signature:
        raise _refuse("replayed_countersignature", "This tenant already countersigned.", 409, session=sid)
    stmt = statement_for(part)
    tenant_key = TenantKey.objects.filter(fingerprint=fingerprint, revoked_at__isnull=True).first()
    if tenant_key is None:
        raise _refuse(
            "unknown_tenant_key", "No active long-term key of your tenant has that fingerprint.", 400, session=sid
        )
    if not bundle_v2.ed25519_verify(tenant_key.public_key, signature, v2.statement_bytes(stmt)):
        raise _refuse("bad_countersignature", "The countersignature does not verify with that key.", 400, session=sid)
    with transaction.atomic():
        updated = Participation.objects.filter(pk=part.pk, statement_signature="").update(
            statement_signature=signature, tenant_key=tenant_key
        )
        if not updated:
            raise _refuse("replayed_countersignature", "This tenant already countersigned.", 409, session=sid)
        audit_record(
            "zk.countersigned", target=part, payload={"session": sid, "tenant_key": fingerprint, "k": stmt["k"]}
        )
        from .tasks import evaluate_session

        tenant_id, session_pk = part.tenant_id, part.session_id
        transaction.on_commit(lambda: evaluate_session.delay(tenant_id, session_pk))
    return Participation.objects.get(pk=part.pk)
