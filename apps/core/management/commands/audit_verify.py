from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import Tenant
from apps.core.services import audit_chain_walk


class Command(BaseCommand):
    help = "Walk the audit hash chain of one tenant (or all) and name the first broken link."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="Tenant slug; default: every tenant.")

    def handle(self, *args: Any, tenant: str | None = None, **options: Any) -> None:
        tenants = Tenant.objects.order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        broken = 0
        for t in tenants:
            report = audit_chain_walk(t)
            if report.ok:
                self.stdout.write(f"{t.slug}: OK, {report.events_checked} events, head {report.head_hash[:16]}")
            else:
                broken += 1
                self.stdout.write(f"{t.slug}: BROKEN at {report.first_break.describe()}")
        if broken:
            raise CommandError(f"{broken} tenant chain(s) broken.")
