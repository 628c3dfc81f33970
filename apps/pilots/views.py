"""Pilot pages: appeals (file, read; the operators' queue and decision), and one page per
partner pair for tenant admins (settings, quotas and use, sessions, appeals, checklist and
MOU with their signatures)."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.models import Role
from apps.core.permissions import ADMINS, SIGNED_IN, TenantRoleRequiredMixin, has_role
from apps.zk_proofs.models import PilotSettings

from . import appeals, readiness
from .models import Appeal, AppealParty, PilotDocument

READERS = frozenset({Role.ADMIN, Role.PARTNER, Role.AUDITOR})
RUNNERS = frozenset({Role.ADMIN, Role.PARTNER})


class PilotsView(TenantRoleRequiredMixin, View):
    required_roles = {"get": READERS, "post": RUNNERS}

    def get(self, request: HttpRequest) -> HttpResponse:
        pilot = PilotSettings.objects.first()
        parties = AppealParty.objects.select_related("appeal__filed_by", "appeal__decided_by")
        return render(
            request,
            "pilots/index.html",
            {
                "partners": (pilot.partners if pilot else []) or [],
                "appeals": [appeals.appeal_view(p.appeal, tenant=request.tenant) for p in parties],
                "subjects": Appeal.Subject.choices,
                "can_file": has_role(request, RUNNERS),
                "is_admin": has_role(request, ADMINS),
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            party = appeals.appeal_file(
                actor=request.user,
                subject=request.POST.get("subject", ""),
                reason=request.POST.get("reason", ""),
                session_id=request.POST.get("session", "").strip(),
                decision_code=request.POST.get("decision_code", ""),
                partner_slug=request.POST.get("partner", ""),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("pilots")
        messages.success(request, "Appeal filed; partner success has it in their queue.")
        return redirect("pilot-appeal", appeal_id=party.appeal.public_id)


class AppealView(TenantRoleRequiredMixin, View):
    required_roles = READERS

    def get(self, request: HttpRequest, appeal_id: str) -> HttpResponse:
        appeal = appeals.appeal_for(appeal_id).appeal
        return render(
            request, "pilots/appeal.html", {"a": appeals.appeal_view(appeal, tenant=request.tenant), "operator": False}
        )


class PilotPageView(TenantRoleRequiredMixin, View):
    required_roles = ADMINS

    def get(self, request: HttpRequest, partner: str) -> HttpResponse:
        state = readiness.pilot_state(partner)
        mine, theirs = state["settings"]["mine"] or {}, state["settings"]["theirs"] or {}
        rows = [(name, _shown(mine.get(name)), _shown(theirs.get(name))) for name in readiness.SETTINGS_SHOWN]
        return render(
            request, "pilots/pilot.html", {"s": state, "settings_rows": rows, "kinds": PilotDocument.Kind.choices}
        )

    def post(self, request: HttpRequest, partner: str) -> HttpResponse:
        readiness.pilot_partner(partner)  # a partner outside this tenant's pilot is a 404, as on GET
        try:
            if request.POST.get("sign"):
                readiness.document_sign(
                    actor=request.user,
                    public_id=request.POST["sign"],
                    signatory_title=request.POST.get("signatory_title", ""),
                    fingerprint=request.POST.get("fingerprint", ""),
                    signature=request.POST.get("signature", ""),
                )
                messages.success(request, "Signed for your tenant.")
            else:
                readiness.document_create(
                    actor=request.user,
                    partner_slug=partner,
                    kind=request.POST.get("kind", ""),
                    title=request.POST.get("title", ""),
                    scope=request.POST.get("scope", ""),
                    items=request.POST.get("items", "").splitlines(),
                    starts_on=_date(request.POST.get("starts_on", "")),
                    ends_on=_date(request.POST.get("ends_on", "")),
                )
                messages.success(request, "Document created; both sides' admins sign it here.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("pilot-page", partner=partner)


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value in (None, "") else str(value)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class OperatorQueueView(TenantRoleRequiredMixin, View):
    """Operators (superusers): every open appeal by deadline, then the decided ones."""

    required_roles = SIGNED_IN

    def get(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404
        queue = appeals.operator_queue()
        return render(request, "pilots/operator.html", {"appeals": [appeals.appeal_view(a) for a in queue]})


class OperatorAppealView(TenantRoleRequiredMixin, View):
    required_roles = SIGNED_IN

    def get(self, request: HttpRequest, appeal_id: str) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404
        appeal = appeals.operator_appeal(appeal_id)
        return render(request, "pilots/appeal.html", {"a": appeals.appeal_view(appeal), "operator": True})

    def post(self, request: HttpRequest, appeal_id: str) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404
        try:
            appeals.appeal_decide(
                public_id=appeal_id,
                actor=request.user,
                outcome=request.POST.get("outcome", ""),
                reason=request.POST.get("reason", ""),
            )
            messages.success(request, "Decision recorded; both tenants see it.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("pilot-operator-appeal", appeal_id=appeal_id)
