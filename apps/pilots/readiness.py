"""Pilot readiness: the pilot checklist and the agreement (MOU) between two tenants, as
records both tenants' admins sign in the app — with their tenant's long-term key (the
Ed25519 key that countersigns ZK-TX sessions, ``apps/zk_proofs/tenant_keys.py``) or as a
recorded approval — and the per-pair pilot state the pilot page shows.

A document is immutable; both signatures cover its ``content_digest``. When both sides have
signed an MOU, each tenant gets the ``PilotAgreement`` that ZK-TX session proposals require
(``apps/zk_proofs/services.session_propose``), so the signed MOU is what opens the pilot."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import date, datetime, timedelta
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.ids import is_uuid
from apps.core.models import Tenant
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant, tenant_context
from apps.zk_proofs.client import document_signing_message
from apps.zk_proofs.models import OverlapSession, Participation, PilotAgreement, PilotSettings, TenantKey

from .appeals import appeal_view
from .models import Appeal, AppealParty, DocumentParty, PilotDocument


def pilot_partner(slug: str) -> Tenant:
    """The partner tenant named in the current tenant's pilot settings, else a 404."""
    me = require_current_tenant()
    pilot = PilotSettings.objects.first()
    partner = Tenant.objects.filter(slug=slug, is_active=True).exclude(pk=me.pk).first()
    if partner is None or pilot is None or slug not in (pilot.partners or []):
        raise NotFound("No such partner in your pilot settings.", code="partner_unknown")
    return partner


def _content(doc: PilotDocument, a: str, b: str) -> dict[str, Any]:
    return {
        "type": "trustfabric/pilot-document/v1",
        "id": str(doc.public_id),
        "kind": doc.kind,
        "title": doc.title,
        "scope": doc.scope,
        "items": list(doc.items),
        "starts_on": doc.starts_on.isoformat() if doc.starts_on else None,
        "ends_on": doc.ends_on.isoformat() if doc.ends_on else None,
        "tenants": {"A": a, "B": b},
    }


def document_create(
    *,
    actor: AbstractBaseUser,
    partner_slug: str,
    kind: str,
    title: str,
    scope: str,
    items: list[str] | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> DocumentParty:
    me = require_current_tenant()
    partner = pilot_partner(partner_slug)
    problems: dict[str, str] = {}
    if kind not in PilotDocument.Kind.values:
        problems["kind"] = "checklist or mou"
    if not title.strip():
        problems["title"] = "required"
    if not scope.strip():
        problems["scope"] = "required"
    clean_items = [i.strip()[:300] for i in (items or []) if isinstance(i, str) and i.strip()]
    if kind == PilotDocument.Kind.CHECKLIST and not clean_items:
        problems["items"] = "a checklist needs at least one item"
    if kind == PilotDocument.Kind.MOU and not (starts_on and ends_on and starts_on <= ends_on):
        problems["starts_on"] = "an agreement needs a start and an end date, start first"
    if problems:
        raise ValidationFailed("The document is incomplete; see details.", code="bad_document", details=problems)
    with transaction.atomic():
        doc = PilotDocument(
            kind=kind,
            title=title.strip()[:200],
            scope=scope.strip(),
            items=clean_items,
            starts_on=starts_on if kind == PilotDocument.Kind.MOU else None,
            ends_on=ends_on if kind == PilotDocument.Kind.MOU else None,
            created_by=actor,
        )
        doc.content_digest = hashlib.sha256(rfc8785.dumps(_content(doc, me.slug, partner.slug))).hexdigest()
        doc.save()
        mine = DocumentParty.objects.create(document=doc, role=DocumentParty.Role.A)
        payload = {"document": str(doc.public_id), "kind": kind, "digest": doc.content_digest}
        audit_record("pilot.document_created", actor=actor, target=mine, payload={**payload, "partner": partner.slug})
        with tenant_context(partner):
            theirs = DocumentParty.objects.create(document=doc, role=DocumentParty.Role.B)
            audit_record("pilot.document_created", target=theirs, payload={**payload, "partner": me.slug})
    return mine


def document_for(public_id: str) -> DocumentParty:
    party = (
        DocumentParty.objects.select_related("document").filter(document__public_id=public_id).first()
        if is_uuid(public_id)
        else None
    )
    if party is None:
        raise NotFound("No such pilot document.")
    return party


def document_sign(
    *,
    actor: AbstractBaseUser,
    public_id: str,
    signatory_title: str,
    fingerprint: str = "",
    signature: str = "",
    now: datetime | None = None,
) -> DocumentParty:
    """The current tenant's admin signs: with a signature by one of the tenant's active
    long-term keys over ``signing_message(digest)``, or (no signature given) as a recorded
    approval by this admin. Once per side."""
    now = now or timezone.now()
    title = signatory_title.strip()[:120]
    if not title:
        raise ValidationFailed(
            "Give the signatory's title (e.g. Head of Legal).",
            code="bad_signatory",
            details={"field": "signatory_title"},
        )
    with transaction.atomic():
        party = DocumentParty.objects.select_for_update().filter(pk=document_for(public_id).pk).first()
        assert party is not None
        if party.signed_at:
            raise Conflict("Your side has already signed this document.", code="already_signed")
        doc = party.document
        method = DocumentParty.Method.APPROVAL
        if signature or fingerprint:
            _check_key_signature(doc, fingerprint.strip(), signature.strip())
            method = DocumentParty.Method.TENANT_KEY
        party.signer, party.signatory_title, party.method, party.signed_at = actor, title, method, now
        party.key_fingerprint = fingerprint.strip() if method == DocumentParty.Method.TENANT_KEY else ""
        party.signature = signature.strip() if method == DocumentParty.Method.TENANT_KEY else ""
        party.save()
        audit_record(
            "pilot.document_signed",
            actor=actor,
            target=party,
            payload={
                "document": str(doc.public_id),
                "kind": doc.kind,
                "digest": doc.content_digest,
                "method": method,
                "fingerprint": party.key_fingerprint or None,
            },
        )
        _record_agreement_if_complete(doc, actor)
    return party


def _check_key_signature(doc: PilotDocument, fingerprint: str, signature: str) -> None:
    key = TenantKey.objects.filter(fingerprint=fingerprint, revoked_at__isnull=True).first()
    if key is None:
        raise ValidationFailed(
            "That fingerprint is not an active long-term key of your tenant.",
            code="unknown_tenant_key",
            details={"field": "fingerprint"},
        )
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_key)).verify(
            base64.b64decode(signature, validate=True), document_signing_message(doc.content_digest)
        )
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise ValidationFailed(
            "The signature does not verify with that key over this document's digest.",
            code="bad_signature",
            details={"field": "signature"},
        ) from exc


def _record_agreement_if_complete(doc: PilotDocument, actor: AbstractBaseUser) -> None:
    parties = list(DocumentParty.all_tenants.filter(document=doc).select_related("tenant", "signer"))
    if doc.kind != PilotDocument.Kind.MOU or not all(p.signed_at for p in parties):
        return
    signatories = [f"{p.signatory_title} ({p.tenant.slug}, {p.signer.get_username()})" for p in parties if p.signer]
    for party in parties:
        other = next(p for p in parties if p.pk != party.pk)
        with tenant_context(party.tenant):
            agreement = PilotAgreement.objects.create(
                partner=other.tenant.slug,
                scope=doc.scope,
                starts_on=doc.starts_on,
                ends_on=doc.ends_on,
                signatories=signatories,
                recorded_by=actor,
            )
            audit_record(
                "pilot.agreement_recorded",
                actor=actor,
                target=agreement,
                payload={"document": str(doc.public_id), "digest": doc.content_digest, "partner": other.tenant.slug},
            )


def document_view(party: DocumentParty) -> dict[str, Any]:
    doc = party.document
    sides = DocumentParty.all_tenants.filter(document=doc).select_related("tenant", "signer").order_by("role")
    return {
        "document": str(doc.public_id),
        "kind": doc.kind,
        "title": doc.title,
        "scope": doc.scope,
        "items": doc.items,
        "starts_on": doc.starts_on.isoformat() if doc.starts_on else None,
        "ends_on": doc.ends_on.isoformat() if doc.ends_on else None,
        "content_digest": doc.content_digest,
        "signed": all(p.signed_at for p in sides),
        "signatures": [
            {
                "tenant": p.tenant.slug,
                "role": p.role,
                "signed": bool(p.signed_at),
                "signatory_title": p.signatory_title or None,
                "signer": p.signer.get_username() if p.signer else None,
                "method": p.method or None,
                "key_fingerprint": p.key_fingerprint or None,
                "signed_at": p.signed_at.isoformat() if p.signed_at else None,
            }
            for p in sides
        ],
    }


# --- The pilot page's state for one partner pair -------------------------------------------

SETTINGS_SHOWN = [
    "enabled",
    "opted_out",
    "selector_types",
    "disclosure_modes",
    "min_set_size",
    "k_floor",
    "count_min_k",
    "default_region",
]


def pilot_state(partner_slug: str, now: datetime | None = None) -> dict[str, Any]:
    """Settings of both sides, the pair's effective quotas and use of them in the last 24 h,
    recent sessions, the pair's appeals and documents. Read only; the current tenant must
    list the partner in its pilot settings (else 404)."""
    now = now or timezone.now()
    me = require_current_tenant()
    partner = pilot_partner(partner_slug)
    mine = PilotSettings.objects.first()
    theirs = PilotSettings.all_tenants.filter(tenant=partner).first()
    since = now - timedelta(days=1)
    pair_sessions = OverlapSession.objects.filter(participations__tenant=me).filter(participations__tenant=partner)
    my_parts = Participation.objects.filter(session__created_at__gte=since)
    proofs_today = sum(len((p.round2 or {}).get("proofs") or []) for p in my_parts.exclude(round2=None).only("round2"))
    quotas = [
        _quota(
            "pair.sessions_per_day",
            pair_sessions.filter(created_at__gte=since).count(),
            min(mine.sessions_per_pair_per_day, theirs.sessions_per_pair_per_day) if theirs else None,
        ),
        _quota("tenant.sessions_per_day", my_parts.count(), mine.sessions_per_day if mine else None),
        _quota("tenant.proofs_per_day", proofs_today, mine.proofs_per_day if mine else None),
        _quota("tenant.requests_per_second", None, mine.requests_per_second if mine else None),
        _quota(
            "pair.requests_per_second",
            None,
            min(mine.pair_requests_per_second, theirs.pair_requests_per_second) if mine and theirs else None,
        ),
    ]
    appeal_ids = AppealParty.objects.values_list("appeal_id", flat=True)
    pair_appeals = AppealParty.all_tenants.filter(appeal_id__in=appeal_ids, tenant=partner).values_list(
        "appeal_id", flat=True
    )
    return {
        "partner": partner.slug,
        "partner_name": partner.name,
        "settings": {
            "mine": {f: getattr(mine, f) for f in SETTINGS_SHOWN} if mine else None,
            "theirs": {f: getattr(theirs, f) for f in SETTINGS_SHOWN} if theirs else None,
            "in_their_scope": bool(theirs and me.slug in (theirs.partners or [])),
        },
        "quotas": quotas,
        "sessions": [
            {
                "session": str(s.public_id),
                "status": s.status,
                "k": s.k,
                "created_at": s.created_at.isoformat(),
                "verdict": s.verdict if s.status == "done" else None,
            }
            for s in pair_sessions.order_by("-created_at")[:20]
        ],
        "appeals": [
            appeal_view(a, tenant=me)
            for a in Appeal.objects.filter(pk__in=pair_appeals).select_related("filed_by", "decided_by")
        ],
        "documents": [
            document_view(p)
            for p in DocumentParty.objects.select_related("document")
            .filter(document__parties__tenant=partner)
            .order_by("-document__created_at")
        ],
        "agreement_in_force": PilotAgreement.objects.filter(
            partner=partner.slug, starts_on__lte=now.date(), ends_on__gte=now.date()
        ).exists(),
    }


def _quota(name: str, used: int | None, limit: int | None) -> dict[str, Any]:
    return {
        "quota": name,
        "limit": limit or None,  # 0 = no limit
        "used_last_24h": used,
        "share": round(used / limit, 3) if used is not None and limit else None,
    }
