"""Demo data: three tenants, a user in every role of each, and one analyst who works for
two agencies (to show the tenant switcher). Idempotent: running it again changes nothing
and never resets a password someone changed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core.models import Role, Tenant
from apps.core.services import membership_grant

DEMO_PASSWORD = "trustfabric-demo"

TENANTS = [
    ("northbridge", "Northbridge Police Service", Tenant.Kind.AGENCY, "nb"),
    ("harbor-customs", "Harbor Customs Agency", Tenant.Kind.AGENCY, "hc"),
    ("sandbox", "Sandbox", Tenant.Kind.SANDBOX, "sb"),
]
ROLE_USERS = [
    ("admin", [Role.ADMIN]),
    ("author", [Role.POLICY_AUTHOR]),
    ("approver", [Role.APPROVER]),
    ("approver2", [Role.APPROVER]),
    ("auditor", [Role.AUDITOR]),
    ("analyst", [Role.ANALYST]),
    ("partner", [Role.PARTNER]),
]
# (username, [(tenant slug, role), ...]): people who work across tenants.
CROSS_TENANT_USERS = [
    ("alex", [("northbridge", Role.ANALYST), ("harbor-customs", Role.ANALYST), ("sandbox", Role.POLICY_AUTHOR)]),
]


class Command(BaseCommand):
    help = "Create demo tenants and users in every role (idempotent) and print their logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins table.")

    @transaction.atomic
    def handle(self, *args: Any, quiet: bool = False, **options: Any) -> None:
        User = get_user_model()
        logins: list[tuple[str, str, str]] = []

        def user(username: str, *, staff: bool = False) -> Any:
            obj, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@demo.trustfabric.test", "is_staff": staff}
            )
            if created:
                obj.set_password(DEMO_PASSWORD)
                obj.save(update_fields=["password"])
            return obj

        superuser = user("admin", staff=True)
        if not superuser.is_superuser:
            superuser.is_superuser = True
            superuser.save(update_fields=["is_superuser"])
        logins.append(("admin", "superuser, admin of every tenant", "all"))

        for slug, name, kind, prefix in TENANTS:
            tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name, "kind": kind})
            membership_grant(tenant=tenant, user=superuser, role=Role.ADMIN, actor=None)
            for suffix, roles in ROLE_USERS:
                username = f"{prefix}-{suffix}"
                u = user(username)  # tenant admins use the product's pages, not the Django admin
                for role in roles:
                    membership_grant(tenant=tenant, user=u, role=role, actor=None)
                logins.append((username, ", ".join(Role(r).label for r in roles), slug))

        for username, grants in CROSS_TENANT_USERS:
            u = user(username)
            for slug, role in grants:
                membership_grant(tenant=Tenant.objects.get(slug=slug), user=u, role=role, actor=None)
            logins.append((username, "; ".join(f"{Role(r).label} @ {s}" for s, r in grants), "several"))

        self.extend_demo()

        if not quiet:
            self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD}):"))
            for username, roles, tenant in logins:
                self.stdout.write(f"  {username:<14} {tenant:<15} {roles}")

    def extend_demo(self) -> None:
        """Each capability's demo data (idempotent on its own)."""
        from apps.jit_approvals import demo as jit_demo
        from apps.queries import demo as lac_demo
        from apps.zk_proofs import demo as zk_demo

        for slug, _, _, prefix in TENANTS[:2]:
            tenant = Tenant.objects.get(slug=slug)
            lac_demo.seed(tenant, prefix)
            jit_demo.seed(tenant, prefix)
        nb, hc = Tenant.objects.get(slug="northbridge"), Tenant.objects.get(slug="harbor-customs")
        zk_demo.seed(nb, hc, "nb")
        zk_demo.seed(hc, nb, "hc")
