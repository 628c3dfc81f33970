from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import Tenant


class Command(BaseCommand):
    help = (
        "Check everything an attacker with database access could rewrite: each tenant's audit chain and "
        "signed head, the transparency log against every signed checkpoint, every manifest against its "
        "signature, every verdict against its witnessed envelope. Names the first problem of each kind, "
        "stores the result for auditors, exits non-zero on any problem."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="Tenant slug; default: every tenant.")

    def handle(self, *args: Any, tenant: str | None = None, **options: Any) -> None:
        from apps.provenance.integrity import KINDS, integrity_run

        tenants = Tenant.objects.order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        failed = 0
        for report in integrity_run(list(tenants), trigger="command"):
            slug = report.tenant.slug
            for kind in KINDS:
                r = report.results[kind]
                if r["ok"]:
                    self.stdout.write(f"ok   {slug}: {r['label'].lower()} ({r['checked']} checked)")
                else:
                    self.stdout.write(f"FAIL {slug}: {r['label'].lower()}: {r['first']} ({r['problems']} problem(s))")
            failed += 0 if report.ok else 1
        if failed:
            raise CommandError(f"Integrity problems in {failed} tenant(s).")
