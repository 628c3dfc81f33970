from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import Tenant
from apps.tenant_rollups import periods
from apps.tenant_rollups.services import digest_build


class Command(BaseCommand):
    help = (
        "Build (sign, log and mail) one tenant's digest for a week, e.g. one the beat missed. "
        "Idempotent: an existing week is left as it is."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--week", help="the week's local Monday, YYYY-MM-DD (default: the last complete week)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"], is_active=True).first()
        if tenant is None:
            raise CommandError(f"No active tenant {options['tenant']!r}.")
        tz = periods.zone(tenant.time_zone)
        week = None
        if options["week"]:
            try:
                monday = date.fromisoformat(options["week"])
            except ValueError as exc:
                raise CommandError("--week must be YYYY-MM-DD.") from exc
            if monday.weekday() != 0:
                raise CommandError("--week must be a Monday.")
            week = periods.week_starting(monday, tz)
        digest = digest_build(tenant, week=week)
        self.stdout.write(
            f"ok   {tenant.slug} {digest.week_label}: sha256 {digest.document_sha256}, log entry {digest.leaf_index}"
        )
