"""The project's one safe-redirect helper: every user-supplied "next" URL goes through it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request: HttpRequest, candidate: str | None, fallback: str, *args: Any, **kwargs: Any) -> str:
    """``candidate`` if it stays on this site (Django's own check: no ``//host``, no
    ``/\\host``, no other scheme or host, HTTPS-only when the request is), else ``fallback``
    (a URL or a URL name with its arguments)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(fallback, *args, **kwargs)


def safe_redirect(request: HttpRequest, candidate: str | None, fallback: str, *args: Any, **kwargs: Any) -> Any:
    return HttpResponseRedirect(safe_next_url(request, candidate, fallback, *args, **kwargs))
