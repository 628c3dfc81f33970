"""ZK-TX pages: your tenant's sessions, proposing one, and a session's status and explainer.
Tenants take part with the shipped client (``python -m apps.zk_proofs.client``); blinded
values never pass through a browser."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.models import Role
from apps.core.permissions import TenantRoleRequiredMixin, has_role

from . import services, tenant_keys
from .bundles import FLOOR_CAVEAT
from .models import DISCLOSURE, SELECTOR_TYPES, Participation, PilotSettings, TenantKey

READERS = frozenset({Role.ADMIN, Role.PARTNER, Role.AUDITOR})
RUNNERS = frozenset({Role.ADMIN, Role.PARTNER})
ADMINS = frozenset({Role.ADMIN})


class SessionListView(TenantRoleRequiredMixin, View):
    required_roles = {"get": READERS, "post": RUNNERS}

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request,
            "zk_proofs/sessions.html",
            {
                "parts": Participation.objects.select_related("session").order_by("-session__created_at"),
                "pilot": PilotSettings.objects.first(),
                "can_run": has_role(request, RUNNERS),
                "disclosures": DISCLOSURE,
                "selector_types": SELECTOR_TYPES,
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            k = int(request.POST.get("k", ""))
            part = services.session_propose(
                actor=request.user,
                partner_slug=request.POST.get("partner", ""),
                k=k,
                disclosure=request.POST.get("disclosure", ""),
                selector_type=request.POST.get("selector_type", ""),
            )
        except ValueError:
            messages.error(request, "k must be a whole number.")
            return redirect("zk-sessions")
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("zk-sessions")
        messages.success(request, "Session proposed; both tenants now run the client with its id.")
        return redirect("zk-session", session_id=part.session.public_id)


class SessionDetailView(TenantRoleRequiredMixin, View):
    required_roles = READERS

    def get(self, request: HttpRequest, session_id: str) -> HttpResponse:
        part = services.participation_for(session_id)
        return render(
            request,
            "zk_proofs/session_detail.html",
            {
                "part": part,
                "session": part.session,
                "explainer": _explainer(part.session.bundle),
                "floor_caveat": FLOOR_CAVEAT,
                "pilot": PilotSettings.objects.first(),
            },
        )


def _explainer(bundle: dict | None) -> str:
    if not bundle:
        return ""
    return bundle.get("explainer") or bundle.get("header", {}).get("explainer", "")  # v1 or v2


class TenantKeysView(TenantRoleRequiredMixin, View):
    """The tenant's long-term keys: admins register (out of band: the public half only) and
    revoke them; every change is audited. Partners and auditors see the fingerprints."""

    required_roles = {"get": READERS, "post": ADMINS}

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request,
            "zk_proofs/keys.html",
            {"keys": TenantKey.objects.select_related("registered_by"), "can_admin": has_role(request, ADMINS)},
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            if request.POST.get("revoke"):
                tenant_keys.tenant_key_revoke(actor=request.user, fingerprint=request.POST["revoke"])
                messages.success(request, "Key revoked.")
            else:
                key = tenant_keys.tenant_key_register(
                    actor=request.user,
                    label=request.POST.get("label", ""),
                    public_key_b64=request.POST.get("public_key", ""),
                )
                messages.success(request, f"Key registered; fingerprint {key.fingerprint}.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("zk-keys")


class TrustFileView(TenantRoleRequiredMixin, View):
    """Download the trust file to pin in the offline verifier."""

    required_roles = READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        response = JsonResponse(tenant_keys.trust_file(), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = 'attachment; filename="zktx-trust.json"'
        return response
