"""Writes for tenancy and audit. Each service is one transaction that includes its audit
event; anything external runs through ``transaction.on_commit``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.utils import timezone

from . import audit_chain
from .errors import NotFound, ValidationFailed
from .logging import current_request_id, redact_value
from .models import ApiToken, AuditChainCheck, AuditEvent, AuditHead, Membership, Role, Tenant
from .tenancy import require_current_tenant, tenant_context


class AuditOutsideTransaction(RuntimeError):
    """An audit event written outside its action's transaction could commit without it."""


def in_callers_transaction(using: str | None = None) -> bool:
    """True inside an atomic block the code opened itself (not only a test case's)."""
    return any(not block._from_testcase for block in transaction.get_connection(using).atomic_blocks)


def audit_record(
    action: str,
    *,
    actor: AbstractBaseUser | None = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: Any = "",
    reason: str = "",
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the current tenant's audit chain.

    Call it inside the transaction of the action it records, so the action and its event
    commit or roll back together. Appends to one tenant's chain are serialised by a row
    lock on the tenant (PostgreSQL); the unique (tenant, seq) constraint backs that up.
    Secret-looking keys in ``payload`` are redacted before hashing and storing. Outside the
    caller's own ``transaction.atomic()`` it raises ``AuditOutsideTransaction`` (a test's
    wrapping transaction does not count)."""
    if not in_callers_transaction():
        raise AuditOutsideTransaction(
            f"audit_record({action!r}) must run inside the transaction of the action it records"
        )
    tenant = require_current_tenant()
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    # Round-trip through canonical JSON so the stored payload and its digest agree exactly.
    clean_payload = json.loads(audit_chain.canonical_json(redact_value(payload or {})))
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk", flat=True).first()
        last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        event = AuditEvent(
            tenant=tenant,
            seq=(last["seq"] + 1) if last else 1,
            actor=actor if actor is not None and actor.is_authenticated else None,
            actor_label=actor.get_username() if actor is not None and actor.is_authenticated else "system",
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            reason=reason,
            request_id=current_request_id(),
            payload=clean_payload,
            payload_digest=audit_chain.payload_digest(clean_payload),
            created_at=timezone.now(),
            prev_hash=last["hash"] if last else audit_chain.GENESIS_HASH,
        )
        event.hash = audit_chain.event_hash(
            {name: getattr(event, name) for name in audit_chain.HASHED_FIELDS}, event.prev_hash
        )
        event.save()
        _head_advance(tenant, event.seq, event.hash)
    return event


AUDIT_HEAD_ORIGIN = "trustfabric.local/audit-head/{tenant_id}"


def _head_signer() -> Any:
    # The log key signs chain heads as it signs log checkpoints (a distinct origin keeps the
    # two kinds of note apart). Imported late: core is below provenance in the layering.
    from apps.core.keys import signer

    return signer("log")


def _head_advance(tenant: Tenant, seq: int, head_hash: str) -> None:
    """Sign the new head; called under the tenant row lock, in the append's transaction."""
    from apps.core.crypto import checkpoint

    note = checkpoint.sign(
        seq, bytes.fromhex(head_hash), _head_signer(), origin=AUDIT_HEAD_ORIGIN.format(tenant_id=tenant.pk)
    )
    fields = {"seq": seq, "hash": head_hash, "note": note, "updated_at": timezone.now()}
    # One UPDATE per append (the tenant row lock already serialises appends); the row is
    # created by the tenant's first append.
    if not AuditHead.all_tenants.filter(tenant=tenant).update(**fields):
        AuditHead.all_tenants.create(tenant=tenant, **fields)


def audit_head_problem(tenant: Tenant) -> tuple[int | None, str | None, str | None]:
    """The tenant's signed head as (seq, hash, problem). A head whose note does not verify
    with the log key, or names another tenant, or disagrees with its own row, is a problem."""
    from apps.core.crypto import checkpoint

    head = AuditHead.all_tenants.filter(tenant=tenant).first()
    if head is None:
        return None, None, None
    try:
        parsed = checkpoint.parse_and_verify(head.note, _head_signer().public)
    except checkpoint.CheckpointError as exc:
        return head.seq, head.hash, f"the signed head does not verify: {exc}"
    if parsed.origin != AUDIT_HEAD_ORIGIN.format(tenant_id=tenant.pk):
        return head.seq, head.hash, "the signed head belongs to another chain"
    if parsed.size != head.seq or parsed.root.hex() != head.hash:
        return head.seq, head.hash, "the head record differs from its signed note (it was edited)"
    return parsed.size, parsed.root.hex(), None


def _chain_rows(tenant: Tenant):
    fields = (*audit_chain.HASHED_FIELDS, "id", "payload", "prev_hash", "hash")
    return AuditEvent.all_tenants.filter(tenant=tenant).order_by("seq").values(*fields).iterator(chunk_size=2000)


# Rows outside the chain that name an audit seq are evidence that the chain once reached at
# least that far. Each source takes a tenant and answers (highest seq referenced, what
# references it), or ``None``. Apps register theirs in ``AppConfig.ready`` (provenance: the
# audit-head anchors in the transparency log; policy studio: ``QueryRun.audit_seq``), so
# apps.core imports none of them.
AuditEvidenceSource = Callable[[Tenant], "tuple[int, str] | None"]
_AUDIT_EVIDENCE: list[AuditEvidenceSource] = []


def register_audit_evidence(source: AuditEvidenceSource) -> AuditEvidenceSource:
    if source not in _AUDIT_EVIDENCE:
        _AUDIT_EVIDENCE.append(source)
    return source


def _past_chain_checks(tenant: Tenant) -> tuple[int, str] | None:
    seen = AuditChainCheck.all_tenants.filter(tenant=tenant, ok=True).aggregate(m=models.Max("events_checked"))["m"]
    return (seen, "an earlier passing chain check") if seen else None


register_audit_evidence(_past_chain_checks)


def audit_evidence(tenant: Tenant) -> tuple[int, str] | None:
    """The highest audit seq any registered source says existed, and what says so."""
    found = [hit for source in _AUDIT_EVIDENCE if (hit := source(tenant))]
    return max(found, key=lambda hit: hit[0]) if found else None


def audit_chain_walk(tenant: Tenant) -> audit_chain.ChainReport:
    """Read-only walk of one tenant's chain and its signed head (used by the command and the
    check service). The head check is what catches events removed from the tail; the
    registered evidence sources catch the tail (or the whole chain) removed together with
    the head."""
    report = audit_chain.verify_chain(_chain_rows(tenant))
    head_seq, head_hash, problem = audit_head_problem(tenant)
    if problem and report.ok:
        return audit_chain.ChainReport(
            report.events_checked, report.head_hash, audit_chain.ChainBreak(report.events_checked, "-", problem)
        )
    report = audit_chain.check_head(report, head_seq, head_hash)
    if report.ok:
        evidence = audit_evidence(tenant)
        if evidence and evidence[0] > report.events_checked:
            seq, source = evidence
            problem = (
                f"the chain ends at #{report.events_checked} but {source} references event #{seq}: "
                "events were removed (and the signed head with them)"
            )
            return audit_chain.ChainReport(
                report.events_checked, report.head_hash, audit_chain.ChainBreak(report.events_checked, "-", problem)
            )
    return report


def audit_chain_check(tenant: Tenant) -> AuditChainCheck:
    """Walk the tenant's chain and store the outcome where auditors can see it."""
    report = audit_chain_walk(tenant)
    with tenant_context(tenant):
        return AuditChainCheck.objects.create(
            tenant=tenant,
            ok=report.ok,
            events_checked=report.events_checked,
            head_hash=report.head_hash,
            first_broken_seq=report.first_break.seq if report.first_break else None,
            message=report.first_break.describe() if report.first_break else "",
        )


def tenant_switch(*, user: AbstractBaseUser, session: Any, slug: str) -> Tenant:
    """Make ``slug`` the session's current tenant. Not a member = not found."""
    from .middleware import TENANT_SESSION_KEY
    from .selectors import tenant_access_for_user

    tenant = next((t for t in tenant_access_for_user(user) if t.slug == slug), None)
    if tenant is None:
        raise NotFound("No such tenant.", code="tenant_not_found")
    session[TENANT_SESSION_KEY] = tenant.slug
    with tenant_context(tenant), transaction.atomic():
        audit_record("tenant.switched", actor=user, target=tenant)
    return tenant


def api_token_create(*, user: AbstractBaseUser, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user`` in the current tenant. Returns the row and the plaintext,
    which is never stored or shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Give the token a name of 1 to 100 characters.", details={"name": "invalid"})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry must be in the future.", details={"expires_at": "in_past"})
    plaintext = ApiToken.PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            key_prefix=plaintext[:10],
            key_hash=ApiToken.hash_key(plaintext),
            expires_at=expires_at,
        )
        audit_record(
            "api_token.created",
            actor=user,
            target=token,
            payload={"name": name, "prefix": token.key_prefix, "expires_at": expires_at},
        )
    return token, plaintext


def api_token_revoke(*, token: ApiToken, actor: AbstractBaseUser) -> ApiToken:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if updated:
            audit_record("api_token.revoked", actor=actor, target=token, payload={"prefix": token.key_prefix})
    if updated:
        from .api.authentication import bump_auth_epoch

        bump_auth_epoch()  # every web process forgets the token now, not in TF_API_TOKEN_CACHE_SECONDS
    token.refresh_from_db()
    return token


def membership_grant(
    *, tenant: Tenant, user: AbstractBaseUser, role: str, actor: AbstractBaseUser | None
) -> Membership:
    """Give ``user`` a role in ``tenant`` (idempotent), audited in that tenant."""
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", details={"role": "unknown"})
    with tenant_context(tenant), transaction.atomic():
        membership, created = Membership.objects.get_or_create(tenant=tenant, user=user, role=role)
        if created:
            audit_record(
                "membership.granted",
                actor=actor,
                target=membership,
                payload={"user": user.get_username(), "role": role},
            )
    return membership
