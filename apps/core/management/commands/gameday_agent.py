"""The application side of ``make gameday`` (ops/gameday.py drives it).

manage.py gameday_agent tokens            # {tenant slug: API token} for each demo analyst (stdout only)
manage.py gameday_agent registry FILE     # what prod should run: {tenant: {policy: version}}
manage.py gameday_agent hotfix            # a direct prod change: activate investigations v2 (drift)
manage.py gameday_agent revert            # the on-call's fix: back to v1 (seed_demo's version, the registry's)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

TENANTS = {"northbridge": "nb", "harbor-customs": "hc", "sandbox": "sb"}  # seed_demo's prefixes
DRIFT_TENANT, DRIFT_POLICY = "northbridge", "investigations"


class Command(BaseCommand):
    help = "Gameday agent: tokens, the policy registry, a prod hotfix and its revert."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["tokens", "registry", "hotfix", "revert"])
        parser.add_argument("path", nargs="?", type=Path)

    def handle(self, *args: Any, action: str, path: Path | None = None, **options: Any) -> None:
        from apps.core.models import Tenant
        from apps.core.services import api_token_create
        from apps.core.tenancy import tenant_context
        from apps.policy_studio.models import Policy
        from apps.policy_studio.services import policy_activate

        users = get_user_model().objects
        if action == "tokens":
            out = {}
            for slug, prefix in TENANTS.items():
                with tenant_context(Tenant.objects.get(slug=slug)):
                    _, out[slug] = api_token_create(user=users.get(username=f"{prefix}-analyst"), name="gameday")
            self.stdout.write(json.dumps(out))
        elif action == "registry":
            assert path is not None
            registry = {
                t.slug: dict(
                    Policy.all_tenants.filter(tenant=t, active_version__isnull=False).values_list(
                        "slug", "active_version__number"
                    )
                )
                for t in Tenant.objects.filter(slug__in=list(TENANTS))
            }
            path.write_text(json.dumps(registry))
            self.stdout.write(json.dumps(registry))
        else:
            tenant = Tenant.objects.get(slug=DRIFT_TENANT)
            author = users.get(username=f"{TENANTS[DRIFT_TENANT]}-author")
            with tenant_context(tenant):
                number = 2 if action == "hotfix" else 1
                v = policy_activate(actor=author, slug=DRIFT_POLICY, number=number)
            self.stdout.write(json.dumps({"tenant": DRIFT_TENANT, "policy": DRIFT_POLICY, "active": v.number}))
