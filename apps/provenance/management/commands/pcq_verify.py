from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context
from apps.provenance import services
from apps.provenance.models import Manifest
from apps.provenance.offline import main as offline_main


class Command(BaseCommand):
    help = "Verify a query run's manifest now (attest, replay, witness, log), or an exported bundle offline."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("run", nargs="?", type=int, help="Query run id")
        parser.add_argument("--tenant", help="Tenant slug of the run")
        parser.add_argument("--bundle", type=Path, help="Verify this evidence bundle offline instead")
        parser.add_argument("--keys", type=Path)
        parser.add_argument("--inputs", type=Path)

    def handle(
        self, *args: Any, run: int | None = None, tenant: str | None = None, bundle: Path | None = None, **options: Any
    ) -> None:
        if bundle:
            argv = ["verify", str(bundle)]
            for flag in ("keys", "inputs"):
                if options.get(flag):
                    argv += [f"--{flag}", str(options[flag])]
            if offline_main(argv) != 0:
                raise CommandError("The bundle did not verify.")
            return
        if run is None or not tenant:
            raise CommandError("Give a run id and --tenant, or --bundle FILE.")
        t = Tenant.objects.filter(slug=tenant).first()
        if t is None:
            raise CommandError(f"No tenant {tenant!r}.")
        with tenant_context(t):
            manifest = Manifest.objects.filter(query_run_id=run).first()
            if manifest is None:
                raise CommandError(f"Run {run} has no manifest in {tenant} (denied runs have none).")
            from apps.provenance.models import Verification

            v = services.verification_run(Verification.objects.create(manifest=manifest).pk)
        self.stdout.write(
            json.dumps(
                {"run": run, "status": v.status, "message": v.message, "attestation": v.verifier_result}, indent=2
            )
        )
        if v.status != "match":
            raise CommandError(f"Verification ended in {v.status}.")
