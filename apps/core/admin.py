"""Django admin. Tenant-owned models list only the current tenant's rows (their default
manager is scoped, and the admin uses it); new rows are created in the current tenant."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from guardian.admin import GuardedModelAdminMixin

from .models import ApiToken, AuditChainCheck, AuditEvent, Membership, Tenant


class TenantScopedAdmin(GuardedModelAdminMixin, admin.ModelAdmin):
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
class TenantAdmin(admin.ModelAdmin):
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
