"""Django admin, for operators (superusers) only. Tenant-owned models list only the current
tenant's rows (their default manager is scoped, and the admin uses it); new rows are created
in the current tenant. Every add, change and delete writes an audit event in the same
transaction, naming the operator and the changed fields. Tenant admins manage their tenant
from the product's own pages, not from here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from guardian.admin import GuardedModelAdminMixin

from .models import ApiToken, AuditChainCheck, AuditEvent, Membership, Tenant
from .services import audit_record
from .tenancy import tenant_context


def _operators_only(request: HttpRequest) -> bool:
    # Only operators: is_staff alone (e.g. a tenant admin someone flagged) is not enough,
    # because models such as Tenant are not tenant-scoped here.
    return bool(request.user.is_active and request.user.is_superuser)


admin.site.has_permission = _operators_only  # type: ignore[method-assign]


class AuditedAdminMixin:
    """Admin writes leave the same audit trail as the product's services."""

    def _tenant_of(self, obj: Any) -> Any:
        return obj if isinstance(obj, Tenant) else obj.tenant

    def _audit(self, request: HttpRequest, obj: Any, verb: str, fields: list[str] | None = None) -> None:
        with tenant_context(self._tenant_of(obj)):
            audit_record(
                f"admin.{verb}",
                actor=request.user,  # type: ignore[arg-type]
                target=obj,
                payload={"model": obj._meta.label_lower, "fields": sorted(fields or [])},
            )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            self._audit(request, obj, "changed" if change else "added", list(getattr(form, "changed_data", [])))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            self._audit(request, obj, "deleted")
            super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


class TenantScopedAdmin(AuditedAdminMixin, GuardedModelAdminMixin, admin.ModelAdmin):
    """Base for every tenant-owned model's admin."""

    exclude = ("tenant",)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.tenant = request.tenant  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "is_active", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ("user", "role", "is_active", "created_at")
    list_filter = ("role", "is_active")
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ("name", "user", "key_prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    exclude = ("tenant", "key_hash")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ("seq", "created_at", "actor_label", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    search_fields = ("action", "actor_label", "target_id", "reason")
    ordering = ("-seq",)


@admin.register(AuditChainCheck)
class AuditChainCheckAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ("checked_at", "ok", "events_checked", "first_broken_seq", "message")
