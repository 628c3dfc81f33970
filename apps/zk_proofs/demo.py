"""Demo data for ZK-TX: the two partner agencies have the pilot on for each other, with
agreements and a registered long-term key each (private halves under ``var/keys/``, mode 0600),
so their partner users can run a session with the client straight away."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context

from .models import PilotAgreement, PilotSettings, TenantKey


def seed(tenant: Tenant, partner: Tenant, prefix: str) -> None:
    admin = get_user_model().objects.get(username=f"{prefix}-admin")
    with tenant_context(tenant):
        PilotSettings.objects.get_or_create(
            defaults={
                "enabled": True,
                "partners": [partner.slug],
                "selector_types": ["phone", "email", "account"],
                "disclosure_modes": ["verdict", "verdict_and_count"],
                "min_set_size": 128,
                "k_floor": 5,
                "default_region": "GB",
            }
        )
        if not PilotAgreement.objects.filter(partner=partner.slug).exists():
            PilotAgreement.objects.create(
                partner=partner.slug,
                scope="Deconfliction of phone, e-mail and account selectors (demo pilot)",
                starts_on=timezone.now().date() - timedelta(days=1),
                ends_on=timezone.now().date() + timedelta(days=365),
                signatories=["Head of Legal (demo)", "CISO (demo)"],
                recorded_by=admin,
            )
        if not TenantKey.objects.exists():
            _demo_tenant_key(tenant, admin)


def _demo_tenant_key(tenant: Tenant, admin: object) -> None:
    """Write a demo long-term key for the tenant and register its public half."""
    import os
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.conf import settings

    from .client import tenant_key_public
    from .tenant_keys import tenant_key_register

    private = Ed25519PrivateKey.generate()
    folder = Path(settings.PCQ_KEY_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"zk-{tenant.slug}-tenant-key.pem"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    tenant_key_register(actor=admin, label=f"demo key ({path.name})", public_key_b64=tenant_key_public(private))
