"""Tenants' long-term keys (registered out of band by a tenant admin, audited) and the trust
file the deployment publishes: the server key(s) and the long-term keys a tenant's auditors
should pin — their own and their pilot partners'."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import NotFound
from apps.core.keys import signer
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant

from .models import PilotSettings, TenantKey
from .zk import bundle_v2, v2


def tenant_key_register(*, actor: AbstractBaseUser, label: str, public_key_b64: str) -> TenantKey:
    """Register a long-term Ed25519 public key for the current tenant (32 raw bytes, base64).
    The private half stays with the tenant; the fingerprint is what partners pin."""
    from .services import _refuse  # every ZK-TX refusal is audited the same way

    try:
        raw = base64.b64decode(public_key_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _refuse("bad_tenant_key", "The public key must be base64.", 400) from exc
    if len(raw) != 32:
        raise _refuse("bad_tenant_key", "An Ed25519 public key is exactly 32 bytes.", 400)
    label = label.strip()[:80]
    if not label:
        raise _refuse("bad_tenant_key", "Give the key a label (where it lives, who holds it).", 400)
    fingerprint = v2.fingerprint(raw)
    if TenantKey.all_tenants.filter(fingerprint=fingerprint).exists():
        raise _refuse("key_reused", "This key is already registered.", 409)
    with transaction.atomic():
        key = TenantKey.objects.create(
            label=label, public_key=base64.b64encode(raw).decode(), fingerprint=fingerprint, registered_by=actor
        )
        audit_record("zk.tenant_key_registered", actor=actor, target=key, payload={"fingerprint": fingerprint})
    return key


def tenant_key_revoke(*, actor: AbstractBaseUser, fingerprint: str) -> TenantKey:
    """Revoke a long-term key: sessions can no longer be countersigned with it."""
    with transaction.atomic():
        key = TenantKey.objects.select_for_update().filter(fingerprint=fingerprint, revoked_at__isnull=True).first()
        if key is None:
            raise NotFound("No such active key.", code="unknown_tenant_key")
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record("zk.tenant_key_revoked", actor=actor, target=key, payload={"fingerprint": fingerprint})
    return key


def trust_file() -> dict[str, Any]:
    """What the current tenant's verifiers pin: the server's bundle-signing key and the active
    long-term keys of this tenant and of the partners in its pilot scope."""
    me = require_current_tenant()
    server = signer("executor").describe()
    partners = PilotSettings.objects.values_list("partners", flat=True).first()
    # one query for the keys and their tenants' slugs, as rows (a poll-rate read: see docs/zk-tx.md)
    keys = (
        TenantKey.all_tenants.filter(tenant__slug__in=[me.slug, *(partners or [])], revoked_at__isnull=True)
        .order_by("tenant_id", "registered_at")
        .values_list("tenant__slug", "label", "public_key", "fingerprint", "registered_at")
    )
    return {
        "type": bundle_v2.TRUST_TYPE,
        "issued_for": me.slug,
        "issued_at": timezone.now().replace(microsecond=0).isoformat(),
        "server_keys": [
            {
                "key_id": server["key_id"],
                "public_key": server["public_key"],
                "fingerprint": v2.fingerprint(base64.b64decode(server["public_key"])),
                "algorithm": "Ed25519",
                "signs": "ZK-TX bundles",
            }
        ],
        "tenant_keys": [
            {
                "tenant": slug,
                "label": label,
                "public_key": public_key,
                "fingerprint": fingerprint,
                "algorithm": "Ed25519",
                "registered_at": registered_at.replace(microsecond=0).isoformat(),
            }
            for slug, label, public_key, fingerprint, registered_at in keys
        ],
    }
