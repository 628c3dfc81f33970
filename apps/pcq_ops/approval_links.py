"""Approving a suppression rule from an e-mail link: the JIT e-mail link machinery (a signed
token over a single-use, approver-bound row; ``notify.link_token``) applied to rules.

When a rule is created, every approver and admin other than its creator gets an e-mail with
their own link (through the notification outbox, in the creation's transaction). The link
opens a confirmation page; only the POST from it approves, through the same service as the
web and the API (second person only, two approvers when the breadth guard asks for two).
Claim and approval commit together, so a refused approval leaves the link unspent."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict
from apps.core.models import Membership
from apps.core.services import audit_record
from apps.jit_approvals import notify

from . import mail
from .models import SuppressionLink, SuppressionRule

PURPOSE = "pcq-suppression"
APPROVER_ROLES = ("admin", "approver")


def queue_approval_requests(rule: SuppressionRule) -> int:
    """One link and one outbox e-mail per possible approver (not the creator). Returns how many."""
    approvers = [u for u in mail.members(APPROVER_ROLES) if u.email and u.pk != rule.created_by_id]
    rows = []
    for user in approvers:
        link = SuppressionLink.objects.create(
            rule=rule, approver=user, nonce=secrets.token_hex(16), expires_at=rule.expires_at
        )
        url = mail.link("pcq-ops-email-approve", notify.link_token(link.nonce, PURPOSE))
        needs = "two approvers (it is broad)" if rule.approvals_required > 1 else "one approver"
        lines = [
            f"{rule.created_by.get_username()} asks to suppress PCQ anomalies matching {rule.matchers}.",
            f"Reason: {rule.reason}",
            f"It would have muted {rule.breadth.get('matched', 0)} of {rule.breadth.get('total', 0)} recent "
            f"anomalies and needs {needs} other than its creator. It ends at {rule.expires_at:%Y-%m-%d %H:%M} UTC.",
            "",
            f"Approve (opens a confirmation page; the link works once, only for you): {url}",
            f"All rules: {mail.link('pcq-ops-suppressions')}",
        ]
        rows.append(
            {
                "key": f"pcq-suppression:{rule.pk}:email:{user.pk}",
                "channel": "email",
                "recipient": user,
                "subject": f"Approve suppression rule {rule.pk}?",  # the outbox adds "[Trust Fabric] "
                "text": "\n".join(lines) + "\n",
            }
        )
    notify.queue_messages(rows)
    return len(rows)


def resolve(token: str) -> tuple[SuppressionLink | None, str | None]:
    """The link a token names (across tenants: the token is the credential) and why it
    cannot be used, if it cannot."""
    nonce = notify.link_nonce(token, PURPOSE)
    link = (
        SuppressionLink.all_tenants.select_related("tenant", "rule__created_by", "approver").filter(nonce=nonce).first()
        if nonce
        else None
    )
    if link is None:
        return None, "This link is not valid."
    if link.used_at is not None:
        return link, "This link has already been used."
    if timezone.now() >= link.expires_at:
        return link, "This link has expired."
    if link.rule.status != SuppressionRule.Status.PENDING:
        return (
            link,
            f"Suppression rule {link.rule_id} is no longer waiting for approval ({link.rule.get_status_display()}).",
        )
    return link, None


def refuse(link: SuppressionLink, code: str, actor: AbstractBaseUser | None = None) -> None:
    """Audit a refused use of a link (in the link's tenant); never the token itself."""
    with transaction.atomic():
        audit_record(
            "pcq_ops.suppression_approval_refused",
            actor=actor,
            target=link.rule,
            payload={"code": code, "channel": "email", "link_owner": link.approver_id},
        )


def use(link: SuppressionLink) -> SuppressionRule:
    """Spend the link and approve as its owner, in one transaction (inside the link's tenant).
    The owner's roles are read now: someone no longer an approver cannot approve."""
    from . import anomalies

    with transaction.atomic():
        if not SuppressionLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=timezone.now()):
            raise Conflict("This link has already been used.", code="link_used")
        roles: Any = frozenset(
            Membership.objects.filter(user=link.approver, is_active=True).values_list("role", flat=True)
        )
        return anomalies.suppression_approve(link.rule, actor=link.approver, roles=roles, channel="email")
