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


def page_problem_after_switch(target: str, roles: frozenset[str]) -> str:
    """Why the page at ``target`` cannot be shown in the tenant just switched to (a sentence),
    or "" when it can: a page about one object belongs to the previous tenant, and a page
    whose declared roles the user does not hold there would be a 403."""
    from urllib.parse import urlsplit

    from django.urls import Resolver404, resolve

    from .models import Role
    from .permissions import PUBLIC, SIGNED_IN, declared_roles

    try:
        match = resolve(urlsplit(target).path)
    except Resolver404:
        return "That page does not exist here."
    if match.kwargs:
        return "The page you were on belongs to the previous tenant."
    view = getattr(match.func, "view_class", match.func)
    spec = declared_roles(view, "get")
    if spec is None or spec in (PUBLIC, SIGNED_IN):
        return ""
    if roles & set(spec):
        return ""
    held = ", ".join(sorted(Role(r).label for r in roles if r in Role.values)) or "no role"
    return f"Your roles there ({held}) cannot open the page you were on."
