"""JIT pages: request form, my requests, approver inbox, request detail (approvals,
notification attempts, audit trail), grants with revoke, metrics, Slack linking; the e-mail
action pages; and Slack's interactivity endpoint."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import DomainError
from apps.core.http import safe_redirect
from apps.core.models import Role
from apps.core.permissions import ADMINS, ANY_MEMBER, PUBLIC, TenantRoleRequiredMixin, has_role
from apps.core.selectors import audit_trail_for
from apps.core.tenancy import tenant_context
from apps.queries.models import QueryRun

from . import channels, selectors, services
from .forms import AccessRequestForm, SlackLinkForm
from .models import AccessRequest, SlackIdentity
from .permissions import GRANT_ADMINS, REQUESTERS
from .scope import grant_reveals

logger = logging.getLogger("trustfabric.jit")


class RequestListView(TenantRoleRequiredMixin, View):
    """My requests, and the form to make one (prefilled from a denied query)."""

    required_roles = {"get": ANY_MEMBER, "post": REQUESTERS}

    def get(self, request: HttpRequest) -> HttpResponse:
        initial: dict[str, Any] = {"duration_minutes": 60}
        run = None
        if request.GET.get("run", "").isdigit():
            run = (
                QueryRun.objects.filter(pk=int(request.GET["run"]), user=request.user)
                .select_related("dataset_version__dataset")
                .first()
            )
            if run is not None:
                initial["run"] = run.pk
        reveals = None
        if run is not None:
            reveals = grant_reveals(run.dataset_version.dataset, run.facts.get("resource", {}).get("data_classes", []))
        return self._render(request, AccessRequestForm(initial=initial), run=run, reveals=reveals)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AccessRequestForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        d = form.cleaned_data
        try:
            created = services.request_create(
                requester=request.user,
                roles=request.tenant_roles,
                reason=d["reason"],
                duration_minutes=d["duration_minutes"],
                run_id=d.get("run"),
                dataset_slug=d.get("dataset") or None,
                data_classes=d.get("data_classes") or None,
                purpose=d.get("purpose") or None,
            )
        except DomainError as exc:
            return self._render(request, form, status=exc.status, error=exc.message)
        messages.success(request, f"Request #{created.pk} sent to the approvers.")
        return redirect("jit-request-detail", pk=created.pk)

    def _render(self, request: HttpRequest, form: AccessRequestForm, status: int = 200, **extra: Any) -> HttpResponse:
        return render(
            request,
            "jit_approvals/requests.html",
            {"form": form, "requests": selectors.requests_for(request.user), **extra},
            status=status,
        )


class InboxView(TenantRoleRequiredMixin, View):
    required_roles = frozenset({Role.APPROVER})

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "jit_approvals/inbox.html", {"inbox": selectors.inbox_rows(request.user)})


class RequestDetailView(TenantRoleRequiredMixin, View):
    required_roles = ANY_MEMBER  # the requester, its approvers, admins and auditors (checked below)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = get_object_or_404(
            AccessRequest.objects.select_related("dataset", "requester", "policy_version__policy"), pk=pk
        )
        approvers = selectors.eligible_approvers(obj)
        if not (
            obj.requester_id == request.user.pk
            or any(u.pk == request.user.pk for u in approvers)
            or has_role(request, GRANT_ADMINS)
        ):
            return render(
                request,
                "error.html",
                {"status": 404, "error": {"code": "not_found", "message": "Not found."}},
                status=404,
            )
        trail = list(audit_trail_for("jit_approvals.accessrequest", obj.pk))
        grant = getattr(obj, "grant", None)
        if grant is not None:
            trail += list(audit_trail_for("jit_approvals.accessgrant", grant.pk))
        runs = QueryRun.objects.filter(jit_grant_id=grant.pk).order_by("-created_at") if grant else []
        now = timezone.now()
        source = (
            QueryRun.objects.filter(pk=obj.source_run_id, user=obj.requester).first() if obj.source_run_id else None
        )
        approvals = list(obj.approvals.select_related("approver"))
        return render(
            request,
            "jit_approvals/request_detail.html",
            {
                "req": obj,
                "approvals": approvals,
                "approved_count": sum(a.decision == "approve" for a in approvals),
                "approvers": approvers,
                "can_decide": any(u.pk == request.user.pk for u in approvers)
                and obj.status == "pending"
                and not any(a.approver_id == request.user.pk for a in approvals),
                "notifications": obj.notifications.select_related("recipient").prefetch_related("attempt_log"),
                "grant": grant,
                "grant_state": grant.state(now) if grant else "",
                "runs": runs,
                "run_again": grant is not None
                and grant.state(now) == "active"
                and source is not None
                and request.user.pk == obj.requester_id,
                "reveals": grant_reveals(obj.dataset, obj.data_classes),
                "show_trail": has_role(request, GRANT_ADMINS),
                "trail": sorted(trail, key=lambda e: e.seq),
                "now": now,
            },
        )


class DecideView(TenantRoleRequiredMixin, View):
    """The web UI's approve/deny buttons (also the confirm step for high-risk Slack approvals)."""

    required_roles = frozenset({Role.APPROVER})

    def post(self, request: HttpRequest, pk: int, decision: str) -> HttpResponse:
        try:
            decided = services.decide(
                request_id=pk,
                approver=request.user,
                decision=decision,
                channel="web",
                comment=request.POST.get("comment", ""),
            )
            messages.success(request, selectors.decision_message(decided, decision))
        except DomainError as exc:
            if exc.status == 404:
                raise
            messages.error(request, exc.message)
        return safe_redirect(request, request.POST.get("next"), "jit-inbox")


class GrantListView(TenantRoleRequiredMixin, View):
    required_roles = ANY_MEMBER  # yours; every grant for admins and auditors

    def get(self, request: HttpRequest) -> HttpResponse:
        grants = selectors.grants_visible_to(request.user, request.tenant_roles)
        return render(
            request,
            "jit_approvals/grants.html",
            {"grants": grants, "now": timezone.now(), "can_revoke_all": has_role(request, ADMINS)},
        )


class GrantView(TenantRoleRequiredMixin, View):
    """A grant's page is its request's page (approvals, grant state, queries run under it)."""

    required_roles = ANY_MEMBER

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        grant = get_object_or_404(selectors.grants_visible_to(request.user, request.tenant_roles), pk=pk)
        return redirect(reverse("jit-request-detail", args=[grant.request_id]) + "#grant")


class GrantRunView(TenantRoleRequiredMixin, View):
    """ "Run again under grant #N": the query kept, the grant and its reason named."""

    required_roles = REQUESTERS

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        run_id = request.POST.get("run", "")
        try:
            run = services.run_under_grant(
                grant_id=pk,
                run_id=int(run_id) if run_id.isdigit() else 0,
                user=request.user,
                roles=request.tenant_roles,
            )
        except DomainError as exc:
            if exc.status == 404:
                raise Http404(exc.message) from exc
            messages.error(request, exc.message)
            return redirect("jit-grants")
        return redirect("query-detail", pk=run.pk)


class GrantRevokeView(TenantRoleRequiredMixin, View):
    """GET asks for confirmation (and a reason when it is someone else's access); POST revokes."""

    required_roles = ANY_MEMBER  # your own grant; any grant for tenant admins (auditors only read)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        grant = get_object_or_404(selectors.grants_revocable_by(request.user, request.tenant_roles), pk=pk)
        return self._confirm(request, grant)

    def _confirm(self, request: HttpRequest, grant: Any, status: int = 200, error: str = "") -> HttpResponse:
        return render(
            request,
            "jit_approvals/grant_revoke.html",
            {
                "grant": grant,
                "reason_required": grant.user_id != request.user.pk,
                "error": error,
                "now": timezone.now(),
            },
            status=status,
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        grant = get_object_or_404(selectors.grants_revocable_by(request.user, request.tenant_roles), pk=pk)
        try:
            services.grant_revoke(grant_id=grant.pk, actor=request.user, reason=request.POST.get("reason", ""))
        except DomainError as exc:
            return self._confirm(request, grant, status=exc.status, error=exc.message)
        told = "" if grant.user_id == request.user.pk else f" {grant.user.get_username()} has been told."
        messages.success(request, f"Grant #{grant.pk} revoked.{told}")
        return redirect("jit-grants")


class MetricsView(TenantRoleRequiredMixin, View):
    required_roles = ANY_MEMBER

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "jit_approvals/metrics.html", {"metrics": selectors.approval_metrics()})


class SlackLinkView(TenantRoleRequiredMixin, View):
    required_roles = ANY_MEMBER

    def get(self, request: HttpRequest) -> HttpResponse:
        identity = SlackIdentity.objects.filter(user=request.user).first()
        return render(
            request,
            "jit_approvals/slack_link.html",
            {"identity": identity, "form": SlackLinkForm(), "slack_enabled": settings.SLACK_ENABLED},
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SlackLinkForm(request.POST)
        try:
            if form.is_valid() and form.cleaned_data.get("code"):
                services.slack_link_confirm(user=request.user, code=form.cleaned_data["code"])
                messages.success(request, "Slack account linked.")
            elif form.is_valid() and form.cleaned_data.get("slack_user_id"):
                services.slack_link_start(user=request.user, slack_user_id=form.cleaned_data["slack_user_id"])
                messages.info(request, "We sent a code to that Slack account; enter it below.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("jit-slack-link")


# --- E-mail links: GET shows a confirmation page; only the POST from it acts ----------------


@method_decorator(csrf_exempt, name="dispatch")
class EmailActionView(View):
    """No login: the signed, single-use, approver-bound token is the credential. Mail
    scanners that prefetch the link only ever see the confirmation page; the rules are
    ``channels.link_preview`` / ``channels.decide_by_link``."""

    required_roles = PUBLIC
    template = "jit_approvals/email_confirm.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            link = channels.link_preview(token, request.user)
        except DomainError as exc:
            return render(request, self.template, {"problem": exc.message}, status=exc.status)
        with tenant_context(link.tenant):
            reveals = grant_reveals(link.request.dataset, link.request.data_classes)
        return render(request, self.template, {"link": link, "token": token, "reveals": reveals})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            link = channels.decide_by_link(token, request.user)
        except DomainError as exc:
            return render(request, self.template, {"problem": exc.message}, status=exc.status)
        return render(request, self.template, {"link": link, "done": True})


# --- Slack interactivity ---------------------------------------------------------------------------


@method_decorator(csrf_exempt, name="dispatch")
class SlackInteractivityView(View):
    """Verifies Slack's signature and timestamp (slack_sdk's SignatureVerifier), refuses
    replays of a signature already seen, maps the Slack user to a platform user through a
    verified link, and applies the decision with the same service as the web UI."""

    required_roles = PUBLIC

    def post(self, request: HttpRequest) -> HttpResponse:
        from slack_sdk.signature import SignatureVerifier

        if not settings.SLACK_ENABLED:
            return JsonResponse(
                {"code": "slack_disabled", "message": "Slack is not configured.", "details": {}}, status=404
            )
        body = request.body
        verifier = SignatureVerifier(settings.SLACK_SIGNING_SECRET)
        if not verifier.is_valid_request(body, dict(request.headers)):
            logger.warning("slack interactivity: bad signature or stale timestamp")
            return JsonResponse(
                {"code": "bad_signature", "message": "The request signature or timestamp is invalid.", "details": {}},
                status=401,
            )
        signature = request.headers.get("X-Slack-Signature", "")
        if not cache.add(f"slack-sig:{signature}", 1, timeout=60 * 6):
            logger.warning("slack interactivity: replayed request refused")
            return JsonResponse(
                {"code": "replayed", "message": "This request was already received.", "details": {}}, status=401
            )
        try:
            payload = json.loads(request.POST.get("payload", ""))
            action = payload["actions"][0]
            slack_user = payload["user"]["id"]
            request_id = int(action["value"])
            decision = {"jit_approve": "approve", "jit_deny": "deny"}[action["action_id"]]
        except (ValueError, KeyError, IndexError, TypeError):
            return JsonResponse(
                {"code": "bad_payload", "message": "Unrecognised interaction payload.", "details": {}}, status=400
            )
        identity = channels.slack_identity_for(slack_user, request_id)
        if identity is None:
            return JsonResponse(
                {
                    "response_type": "ephemeral",
                    "replace_original": False,
                    "text": "Your Slack account is not linked to an approver for this request. Link it in Trust Fabric first.",
                }
            )
        text = channels.decide_from_slack(identity, request_id, decision)
        return JsonResponse({"response_type": "ephemeral", "replace_original": False, "text": text})
