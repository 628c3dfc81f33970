"""Decisions that arrive without the web UI's session: a signed e-mail link, a Slack button.

The rules live here once, for both channels and for the web page that shows an e-mail link
before it is used: whether the link is usable (``ApprovalLink.problem``), who may use it,
"high-risk approvals need the web" (``AccessRequest.needs_web``), claiming a link together
with the decision, and an audit event for every refusal. Views only translate the outcome
into a page or a Slack reply.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import DomainError, NotFound, PermissionDenied
from apps.core.services import audit_record
from apps.core.tenancy import tenant_context

from . import notify, services
from .models import AccessRequest, ApprovalLink, SlackIdentity


class LinkGone(DomainError):
    """The link was real but is spent or expired."""

    status = 410
    code = "link_unusable"


def _refused(request: AccessRequest, actor: Any, code: str, channel: str) -> None:
    with transaction.atomic():
        audit_record("jit.decision_refused", actor=actor, target=request, payload={"code": code, "channel": channel})


def web_url(request: AccessRequest) -> str:
    return settings.SITE_URL + reverse("jit-request-detail", args=[request.pk])


def link_preview(token: str, user: Any) -> ApprovalLink:
    """The link a token names, for the confirmation page (GET: nothing is spent or audited).
    Raises when it could not be used now by whoever is looking."""
    link = notify.link_from_token(token)
    if link is None:
        raise NotFound("This link is not valid.")
    problem = link.problem(timezone.now())
    if problem is not None:
        raise LinkGone(problem)
    if user.is_authenticated and user.pk != link.approver_id:
        raise PermissionDenied("This link belongs to another approver; it cannot be used from your account.")
    return link


def decide_by_link(token: str, user: Any) -> ApprovalLink:
    """Use an e-mail link (POST from its confirmation page). The signed, single-use,
    approver-bound token is the credential; someone else signed in never acts as its owner;
    a high-risk approval needs the approver signed in. Claim and decision commit together:
    a decision that fails leaves the link unspent. Every refusal is audited."""
    link = notify.link_from_token(token)
    if link is None:
        raise NotFound("This link is not valid.")
    with tenant_context(link.tenant):
        problem = link.problem(timezone.now())
        if problem is not None:
            _refused(link.request, None, "bad_email_link", "email")
            raise LinkGone(problem)
        if user.is_authenticated and user.pk != link.approver_id:
            _refused(link.request, user, "not_link_owner", "email")
            raise PermissionDenied("This link belongs to another approver; it was not used.", code="not_link_owner")
        if link.request.needs_web(link.action) and not user.is_authenticated:
            _refused(link.request, link.approver, "needs_web_confirmation", "email")
            raise PermissionDenied(
                "This is a high-risk scope: sign in as the approver and decide in the web UI.",
                code="needs_web_confirmation",
            )
        try:
            with transaction.atomic():
                claimed = ApprovalLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=timezone.now())
                if not claimed:
                    raise LinkGone("This link has already been used.")
                services.decide(
                    request_id=link.request_id, approver=link.approver, decision=link.action, channel="email"
                )
        except LinkGone:
            _refused(link.request, link.approver, "bad_email_link", "email")
            raise
        except DomainError as exc:
            # The rollback took the service's own refusal record with it; record it again.
            _refused(link.request, link.approver, exc.code, "email")
            raise
    return link


def decide_from_slack(identity: SlackIdentity, request_id: int, decision: str) -> str:
    """A Slack button from a verified Slack identity; returns the reply's text."""
    with tenant_context(identity.tenant):
        request = AccessRequest.objects.filter(pk=request_id).first()
        if request is None:
            raise NotFound("No such access request.")
        if request.needs_web(decision):
            _refused(request, identity.user, "needs_web_confirmation", "slack")
            return f"High-risk scope: confirm in the web UI: {web_url(request)}"
        try:
            services.decide(request_id=request_id, approver=identity.user, decision=decision, channel="slack")
        except DomainError as exc:
            return exc.message
    return f"Recorded: you {'approved' if decision == 'approve' else 'denied'} request #{request_id}."


def slack_identity_for(slack_user_id: str, request_id: int) -> SlackIdentity | None:
    """The verified link from this Slack user to an approver in the request's tenant."""
    for identity in SlackIdentity.all_tenants.select_related("tenant", "user").filter(
        slack_user_id=slack_user_id, verified_at__isnull=False
    ):
        if AccessRequest.all_tenants.filter(pk=request_id, tenant=identity.tenant).exists():
            return identity
    return None
