from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context
from apps.policy_studio.selectors import tier1_coverage


class Command(BaseCommand):
    help = "Show every Tier-1 view and the minimization rule covering each P0/P1 field; fail below 100%."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="Tenant slug; default: every tenant.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, tenant: str | None = None, json: bool = False, **options: Any) -> None:
        tenants = Tenant.objects.filter(is_active=True).order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        failing = []
        for t in tenants:
            with tenant_context(t):
                report = tier1_coverage()
            if json:
                self.stdout.write(_dumps({"tenant": t.slug, **report.as_dict()}))
            else:
                self.stdout.write(
                    f"{t.slug}: {report.covered_views}/{report.tier1_views} Tier-1 views covered ({report.percent}%)"
                )
                for row in report.rows:
                    for field_name, rule in row.rules.items():
                        mark = "ok  " if rule else "FAIL"
                        self.stdout.write(
                            f"  {mark} {row.view.slug}.{field_name} ({row.tier1_fields[field_name]}): {rule or 'no rule'}"
                        )
            if not report.ok:
                failing.append(t.slug)
        if failing:
            raise CommandError(f"Tier-1 coverage below 100% in: {', '.join(failing)}")


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2)
