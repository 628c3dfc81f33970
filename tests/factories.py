"""factory_boy factories. Tenant-owned factories take ``tenant=``; they create rows with
the ``all_tenants`` manager so a test can build data for several tenants at once."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

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
    with tenant_context(tenant):
        return services.audit_record(action, **kwargs)
