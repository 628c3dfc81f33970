"""Tenant isolation, in one place.

The current tenant lives in a context variable. It is set by:
  * the web middleware (``TenantMiddleware``) from the session's tenant switcher,
  * the DRF base view (``apps.core.api.base.TenantScopedAPIMixin``) from the token or header,
  * ``tenant_task`` for Celery tasks (the task receives the tenant id),
  * ``tenant_context`` for management commands and tests.

Models that belong to a tenant inherit ``TenantOwnedModel``; their default manager
(``objects``) filters by the current tenant and *fails closed*: with no tenant set it
raises ``TenantNotSet`` instead of returning every tenant's rows. The escape hatch is the
second manager, ``all_tenants``, deliberately long and greppable.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    from .models import Tenant

_current_tenant: contextvars.ContextVar[Tenant | None] = contextvars.ContextVar(
    "trustfabric_current_tenant", default=None
)


class TenantNotSet(RuntimeError):
    """A tenant-scoped query ran with no tenant in context. This is a bug, never user error."""


def get_current_tenant() -> Tenant | None:
    return _current_tenant.get()


def require_current_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantNotSet("No tenant is set for this request, task or command.")
    return tenant


def set_current_tenant(tenant: Tenant | None) -> contextvars.Token[Tenant | None]:
    """Low-level setter for middleware; pair it with ``reset_current_tenant``."""
    return _current_tenant.set(tenant)


def reset_current_tenant(token: contextvars.Token[Tenant | None]) -> None:
    _current_tenant.reset(token)


@contextmanager
def tenant_context(tenant: Tenant) -> Iterator[Tenant]:
    """Run a block as ``tenant``: for management commands, tasks and tests."""
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)


F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=models.Model)


def tenant_task(func: F) -> F:
    """Decorate a Celery task body whose first argument is a tenant id.

    The task runs inside ``tenant_context`` for that tenant, so scoped managers work
    and cannot leak into another tenant. A tenant that vanished makes the task a no-op.
    """

    @functools.wraps(func)
    def wrapper(tenant_id: int, *args: Any, **kwargs: Any) -> Any:
        from .models import Tenant

        tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
        if tenant is None:
            return None
        with tenant_context(tenant):
            return func(tenant_id, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class TenantScopedManager(models.Manager[M]):
    """Default manager of tenant-owned models: only the current tenant's rows, or an error."""

    def get_queryset(self) -> models.QuerySet[M]:
        tenant = require_current_tenant()
        return super().get_queryset().filter(tenant_id=tenant.pk)

    def none(self) -> models.QuerySet[M]:
        # An empty queryset reveals nothing, so it needs no tenant (schema generation uses it).
        return super().get_queryset().none()


class TenantOwnedModel(models.Model):
    """Base for every model that belongs to a tenant."""

    tenant = models.ForeignKey("core.Tenant", on_delete=models.PROTECT, related_name="+")

    objects = TenantScopedManager()
    # Escape hatch: every tenant's rows. Use only where a cross-tenant read is the point
    # (the audit verifier, the admin of tenants, migrations). grep for it in review.
    all_tenants = models.Manager()  # noqa: DJ012 - a manager, not a field

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "tenant_id", None) is None:  # the stubs type a non-null FK's id as int
            self.tenant = require_current_tenant()
        super().save(*args, **kwargs)
