from django.contrib import admin

from apps.core.admin import TenantScopedAdmin

from .models import PilotAgreement, PilotSettings


@admin.register(PilotSettings)
class PilotSettingsAdmin(TenantScopedAdmin):
    list_display = (
        "enabled",
        "opted_out",
        "partners",
        "selector_types",
        "disclosure_modes",
        "min_set_size",
        "k_floor",
        "sessions_per_pair_per_day",
    )


@admin.register(PilotAgreement)
class PilotAgreementAdmin(TenantScopedAdmin):
    list_display = ("partner", "starts_on", "ends_on", "recorded_by", "recorded_at")
    exclude = ("tenant", "recorded_by")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)
