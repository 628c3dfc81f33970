"""Plain notices by e-mail from a Celery task (Django's mail API), and absolute links for
them. Messages that must be retried, leased and deduplicated go through the notification
outbox (``apps.jit_approvals.notify``) instead; these are the ones whose task is the retry."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse


def send(to: list[str], subject: str, lines: list[str], attachments: list[tuple[str, str, str]] = ()) -> int:
    """One text e-mail to every address in ``to`` (deduplicated); 0 when there is nobody."""
    if not to:
        return 0
    msg = EmailMultiAlternatives(
        subject=subject, body="\n".join(lines) + "\n", from_email=settings.DEFAULT_FROM_EMAIL, to=sorted(set(to))
    )
    for name, content, mimetype in attachments:
        msg.attach(name, content, mimetype)
    return msg.send()


def link(name: str, *args: Any) -> str:
    """The absolute URL of the named page (``SITE_URL`` + its path)."""
    return settings.SITE_URL + reverse(name, args=args)
