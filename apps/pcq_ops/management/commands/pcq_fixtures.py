"""``manage.py pcq_fixtures run|generate|report [--tenant T]``: replay fixtures from the
command line and in CI. ``run`` exits 1 when a gating fixture fails (quarantined ones report
but never gate); output is JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context
from apps.pcq_ops import selectors, services


class Command(BaseCommand):
    help = "Generate, run and report replay fixtures (see docs/pcq-ops.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["run", "generate", "report"])
        parser.add_argument("--tenant", help="tenant slug (default: every active tenant)")
        parser.add_argument("--fixture", action="append", help="only this fixture (repeatable)")
        parser.add_argument("--standard", action="store_true", help="generate: the standard set")
        parser.add_argument("--name")
        parser.add_argument("--shape", default="random")
        parser.add_argument("--size", type=int, default=100)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--metric", default="pagerank")

    def handle(self, *args: Any, **opts: Any) -> None:
        tenants = Tenant.objects.filter(is_active=True).order_by("pk")
        if opts["tenant"]:
            tenants = tenants.filter(slug=opts["tenant"])
            if not tenants:
                raise CommandError(f"no active tenant {opts['tenant']!r}")
        out: dict[str, Any] = {}
        failed = False
        for tenant in tenants:
            with tenant_context(tenant):
                if opts["action"] == "generate":
                    made = services.fixtures_ensure_standard() if opts["standard"] or not opts["name"] else [
                        services.fixture_generate(actor=None, name=opts["name"], shape=opts["shape"],
                                                  size=opts["size"], seed=opts["seed"], metric=opts["metric"])
                    ]  # fmt: skip
                    out[tenant.slug] = {"generated": [f.name for f in made]}
                elif opts["action"] == "run":
                    result = services.fixtures_run_all(trigger="command", names=opts["fixture"])
                    services.quarantines_escalate()
                    failed = failed or not result["ok"]
                    out[tenant.slug] = result
                else:
                    report = selectors.fixture_report()
                    out[tenant.slug] = {
                        "runs": report["runs"],
                        "flaky_rate": report["flaky_rate"],
                        "queue": [q["fixture"] for q in report["queue"]],
                    }
        self.stdout.write(json.dumps(out, indent=2, default=str))
        if failed:
            raise CommandError("a gating replay fixture failed")
