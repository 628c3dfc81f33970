from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.zk_proofs import quotas, scheduler
from apps.zk_proofs.client import tenant_key_public
from apps.zk_proofs.models import PilotAgreement, PilotSettings, TenantKey
from apps.zk_proofs.tenant_keys import tenant_key_register
from tests.conftest import member, require_service, scan_logs_for, token_client


def pilot(tenant: Any, partner_slug: str, actor: Any, **overrides: Any) -> PilotSettings:
    with tenant_context(tenant):
        settings = PilotSettings.objects.create(
            enabled=True,
            partners=[partner_slug],
            selector_types=["phone", "email"],
            disclosure_modes=["verdict", "verdict_and_count"],
            min_set_size=128,
            k_floor=5,
            count_min_k=5,
            count_releases_per_pair_per_day=50,
            **overrides,
        )
        PilotAgreement.objects.create(
            partner=partner_slug,
            scope="Deconfliction of phone selectors, pilot phase 1",
            starts_on=date.today() - timedelta(days=1),
            ends_on=date.today() + timedelta(days=90),
            signatories=["Head of Legal", "CISO"],
            recorded_by=actor,
        )
        if not TenantKey.objects.exists():  # sessions need a long-term key on each side
            tenant_key_register(
                actor=actor, label="pilot test key", public_key_b64=tenant_key_public(Ed25519PrivateKey.generate())
            )
    return settings


@pytest.fixture
def zk_pair(tenant_a, tenant_b) -> dict[str, Any]:
    a = member(tenant_a, "partner-a", Role.PARTNER)
    b = member(tenant_b, "partner-b", Role.PARTNER)
    pilot(tenant_a, tenant_b.slug, a)
    pilot(tenant_b, tenant_a.slug, b)
    admin_a, admin_b = member(tenant_a, "zk-admin-a", Role.ADMIN), member(tenant_b, "zk-admin-b", Role.ADMIN)
    keys = {"a": Ed25519PrivateKey.generate(), "b": Ed25519PrivateKey.generate()}
    for tenant, admin, name in ((tenant_a, admin_a, "a"), (tenant_b, admin_b, "b")):
        with tenant_context(tenant):
            TenantKey.objects.all().delete()  # only the key this fixture holds the private half of
            tenant_key_register(actor=admin, label=f"test key {name}", public_key_b64=tenant_key_public(keys[name]))
    return {
        "key_a": keys["a"],
        "key_b": keys["b"],
        "admin_a": admin_a,
        "admin_b": admin_b,
        "a": a,
        "b": b,
        "api_a": token_client(a, tenant_a),
        "api_b": token_client(b, tenant_b),
        "ta": tenant_a,
        "tb": tenant_b,
    }


def phone_sets(n: int = 1000, shared: int = 40, seed: int = 9) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    pool = rng.sample(range(10**8), 2 * n)
    common = [f"+4477{v:08d}" for v in pool[:shared]]
    only_a = [f"+4477{v:08d}" for v in pool[shared:n]]
    only_b = [f"+4477{v:08d}" for v in pool[n : 2 * n - shared]]
    a, b = common + only_a, common + only_b
    scan_logs_for(*a[:50], *b[-50:])  # these must never reach a log line
    return a, b


@pytest.fixture
def sched(monkeypatch: pytest.MonkeyPatch):
    """A clean scheduler with a test clock; drain messages counted, not sent."""
    require_service(django_settings.CELERY_BROKER_URL.startswith("redis://"), "CELERY_BROKER_URL must point at Redis")
    scheduler.reset()
    now = [1_900_000_000.0]
    kicks: list[int] = []
    monkeypatch.setattr(quotas, "clock", lambda: now[0])
    monkeypatch.setattr(scheduler, "_kick", kicks.append)
    yield {"now": now, "kicks": kicks}
    scheduler.reset()
