"""PCQ operations messages. On-call pages (Slack and e-mail) and suppression approval
requests go through the JIT notification outbox (``notify.queue_messages``: idempotent rows,
leased, retried and swept); the weekly report, quarantine escalations and suppression
reminders are sent with Django's mail API from their Celery task. Explorer links never carry
a secret; only an approval e-mail carries its approver's own signed link."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from apps.core.mail import link, send
from apps.core.models import Membership, Role
from apps.jit_approvals import notify

__all__ = ["link", "members", "on_call", "queue_page", "send"]


def on_call(roles: Iterable[str] = (Role.ADMIN,)) -> list[Any]:
    """The tenant's on-call: its admins (current tenant) with an e-mail address."""
    return [u for u in members(roles) if u.email]


def members(roles: Iterable[str]) -> list[Any]:
    """Active members of the current tenant with any of ``roles``, by id."""
    rows = Membership.objects.filter(role__in=list(roles), is_active=True).select_related("user")
    return sorted({m.user for m in rows if m.user.is_active}, key=lambda u: u.pk)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def queue_page(page: Any) -> list[str]:
    """Outbox rows for a new page: one e-mail per on-call admin with an address and one Slack
    DM per on-call admin with a verified Slack account (when Slack is enabled). A burst of
    the same root joins the page, so it is one message per person. Returns who was paged."""
    admins = members([Role.ADMIN])
    url = link("pcq-ops-page", page.pk)
    subject = f"PCQ page: {page.title}"[:200]  # the outbox adds "[Trust Fabric] "
    text = f"Severity: {page.severity}\nRoot: {page.title}\nExplorer: {url}\n"
    rows = [
        {
            "key": f"pcq-page:{page.pk}:email:{u.pk}",
            "channel": "email",
            "recipient": u,
            "subject": subject,
            "text": text,
        }
        for u in admins
        if u.email
    ]
    slack = notify.verified_slack_ids(admins) if settings.SLACK_ENABLED else {}
    title = _slack_escape(page.title)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"PCQ page ({page.severity})"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Root:* {title}"[:3000]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"<{url}|Open in the anomaly explorer>"}},
    ]
    rows += [
        {
            "key": f"pcq-page:{page.pk}:slack:{u.pk}",
            "channel": "slack",
            "recipient": u,
            "slack_channel": slack[u.pk],
            "subject": subject,
            "text": f"PCQ page ({page.severity}): {title} {url}"[:3000],
            "blocks": blocks,
        }
        for u in admins
        if u.pk in slack
    ]
    notify.queue_messages(rows)
    return [u.get_username() for u in admins if u.email or u.pk in slack]
