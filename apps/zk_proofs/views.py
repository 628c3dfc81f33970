"""ZK-TX pages: your tenant's sessions, proposing one, and a session's status and explainer.
Tenants take part with the shipped client (``python -m apps.zk_proofs.client``); blinded
values never pass through a browser."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.models import Role
from apps.core.permissions import TenantRoleRequiredMixin, has_role

from . import services
from .models import DISCLOSURE, SELECTOR_TYPES, Participation, PilotSettings

READERS = frozenset({Role.ADMIN, Role.PARTNER, Role.AUDITOR})
RUNNERS = frozenset({Role.ADMIN, Role.PARTNER})


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
        if not has_role(request, RUNNERS):
            messages.error(request, "Only partner users and admins can propose sessions.")
            return redirect("zk-sessions")
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
        return render(request, "zk_proofs/session_detail.html", {"part": part, "session": part.session})
