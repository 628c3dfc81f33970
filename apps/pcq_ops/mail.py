"""PCQ operations e-mail: pages, the weekly report, quarantine escalations and suppression
reminders. Sent with Django's mail API (the SMTP backend in production, as the JIT outbox
and the digests); links go to the explorer, never carry a secret."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse

from apps.core.models import Membership, Role


def on_call(roles: Iterable[str] = (Role.ADMIN,)) -> list[Any]:
    """The tenant's on-call: its admins (current tenant) with an e-mail address."""
    users = {m.user for m in Membership.objects.filter(role__in=list(roles)).select_related("user")}
    return sorted((u for u in users if u.email and u.is_active), key=lambda u: u.pk)


def send(to: list[str], subject: str, lines: list[str], attachments: list[tuple[str, str, str]] = ()) -> int:
    if not to:
        return 0
    msg = EmailMultiAlternatives(
        subject=subject, body="\n".join(lines) + "\n", from_email=settings.DEFAULT_FROM_EMAIL, to=sorted(set(to))
    )
    for name, content, mimetype in attachments:
        msg.attach(name, content, mimetype)
    return msg.send()


def link(name: str, *args: Any) -> str:
    return settings.SITE_URL + reverse(name, args=args)
