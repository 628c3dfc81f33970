"""Demo data for ZK-TX: the two partner agencies have the pilot on for each other, with
agreements, so their partner users can run a session with the client straight away."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context

from .models import PilotAgreement, PilotSettings


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
