"""factory_boy factories. Tenant-owned factories take ``tenant=``; they create rows with
the ``all_tenants`` manager so a test can build data for several tenants at once."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.core import services
from apps.core.models import ApiToken, AuditChainCheck, Membership, Role, Tenant
from apps.core.tenancy import tenant_context


class TenantOwnedFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        return model_class.all_tenants.create(*args, **kwargs)


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(TenantOwnedFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANALYST


class AuditChainCheckFactory(TenantOwnedFactory):
    class Meta:
        model = AuditChainCheck

    tenant = factory.SubFactory(TenantFactory)
    ok = True
    events_checked = 0
    head_hash = "0" * 64


def api_token_for(user: Any, tenant: Tenant, name: str = "test") -> tuple[ApiToken, str]:
    with tenant_context(tenant):
        return services.api_token_create(user=user, name=name)


def audit_event_in(tenant: Tenant, action: str = "test.event", **kwargs: Any) -> Any:
    with tenant_context(tenant), transaction.atomic():
        return services.audit_record(action, **kwargs)


# --- Domain rows -----------------------------------------------------------------------
# Rows with content (dataset versions, policy versions, query runs) go through their services,
# so hashes, blobs and audit events are real; plain rows (requests, approvals, grants, links,
# pilot settings) are factories. Call them inside ``tenant_context`` or pass ``tenant=``.

SMALL_GRAPH = {
    "attributes": {"nodes": {"city": "P2"}, "edges": {}},
    "nodes": [{"id": f"n{i}", "city": "Oslo"} for i in range(4)],
    "edges": [{"source": "n0", "target": f"n{i}"} for i in range(1, 4)],
}


def dataset_in(tenant: Tenant, actor: Any, slug: str = "small", graph: dict[str, Any] | None = None) -> Any:
    """A dataset with one version of ``graph`` (a star of four nodes by default)."""
    from apps.graphs.services import UploadedFile, dataset_create

    data = json.dumps(graph or SMALL_GRAPH).encode()
    with tenant_context(tenant):
        return dataset_create(
            actor=actor, slug=slug, name=slug.title(), files={"graph": UploadedFile("graph.json", data)}
        ).dataset


def policy_in(tenant: Tenant, actor: Any, source: str, slug: str = "policy") -> Any:
    """An active policy version of ``source``."""
    from apps.policy_studio.services import policy_save_version

    with tenant_context(tenant):
        return policy_save_version(actor=actor, slug=slug, source=source, activate=True)


def query_run_in(tenant: Tenant, user: Any, roles: frozenset[str], **spec: Any) -> Any:
    from apps.queries.pipeline import query_run_execute

    with tenant_context(tenant):
        return query_run_execute(actor=user, roles=roles, spec=spec)


class AccessRequestFactory(TenantOwnedFactory):
    """A pending request; pass ``tenant``, ``dataset`` and ``policy_version``."""

    class Meta:
        model = "jit_approvals.AccessRequest"

    requester = factory.SubFactory(UserFactory)
    rule_id = "identities-with-approval"
    data_classes = factory.LazyFunction(lambda: ["P1", "P2"])
    purpose = "investigation"
    reason = "case 2026-118"
    reason_sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.reason.encode()).hexdigest())
    duration_minutes = 60
    approvals_required = 2
    remind_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))
    escalate_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))
    deadline_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=60))


class ApprovalFactory(TenantOwnedFactory):
    class Meta:
        model = "jit_approvals.Approval"

    tenant = factory.SelfAttribute("request.tenant")
    approver = factory.SubFactory(UserFactory)
    decision = "approve"
    channel = "web"


class ApprovalLinkFactory(TenantOwnedFactory):
    class Meta:
        model = "jit_approvals.ApprovalLink"

    tenant = factory.SelfAttribute("request.tenant")
    approver = factory.SubFactory(UserFactory)
    action = "approve"
    nonce = factory.Sequence(lambda n: f"nonce-{n:08d}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))


class AccessGrantFactory(TenantOwnedFactory):
    """An active grant for an (approved) request."""

    class Meta:
        model = "jit_approvals.AccessGrant"

    tenant = factory.SelfAttribute("request.tenant")
    user = factory.SelfAttribute("request.requester")
    rule_id = factory.SelfAttribute("request.rule_id")
    dataset = factory.SelfAttribute("request.dataset")
    data_classes = factory.SelfAttribute("request.data_classes")
    purpose = factory.SelfAttribute("request.purpose")
    reason_sha256 = factory.SelfAttribute("request.reason_sha256")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=1))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))


class PilotSettingsFactory(TenantOwnedFactory):
    """ZK-TX pilot controls switched on for ``partners``."""

    class Meta:
        model = "zk_proofs.PilotSettings"

    tenant = factory.SubFactory(TenantFactory)
    enabled = True
    partners = factory.LazyFunction(list)
    selector_types = factory.LazyFunction(lambda: ["phone"])
    disclosure_modes = factory.LazyFunction(lambda: ["verdict"])
    k_floor = 5
