"""Roles inside the current tenant, declared per action and checked in the base classes.

Every HTML view and every API action says who may call it, in one attribute:

    required_roles = AUDIT_READERS                       # every method / action
    required_roles = {"get": ANY_MEMBER, "post": ADMINS}  # HTML views: per HTTP method
    required_roles = {"list": READERS, "revoke": ADMINS}  # viewsets: per action

A value is a set of roles (the caller needs one of them), ``ANY_MEMBER``, ``SIGNED_IN`` (no
tenant needed) or ``PUBLIC`` (no sign-in: the credential is in the request, e.g. a signed
link). ``TenantRoleRequiredMixin`` (HTML) and ``TenantScopedAPIMixin.check_permissions``
(API) enforce it before the handler runs; an action with no declaration is refused, and
``undeclared_actions()`` (run by the test suite) lists every route that lacks one. Rules about
one object (my own grant, my own token) stay in selectors and services."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest

from .errors import PermissionDenied
from .models import Role

PUBLIC: Final = "public"
SIGNED_IN: Final = "signed_in"
ANY_MEMBER: Final = frozenset(Role.values)

ADMINS = frozenset({Role.ADMIN})
AUDIT_READERS = frozenset({Role.ADMIN, Role.AUDITOR})

RoleSpec = frozenset[str] | str
Declaration = RoleSpec | Mapping[str, RoleSpec]

# Methods a view answers without declaring them: HEAD is GET; OPTIONS and DRF's metadata
# action describe the endpoint and change nothing.
_ALIASES = {"head": "get"}
_UNDECLARED_OK = {"options", "metadata"}


def has_role(request: HttpRequest | Any, roles: Iterable[str]) -> bool:
    held = getattr(request, "tenant_roles", frozenset())
    return bool(held & set(roles))


def require_role(request: HttpRequest | Any, roles: Iterable[str]) -> None:
    roles = frozenset(roles)
    if not has_role(request, roles):
        names = ", ".join(sorted(Role(r).label for r in roles))
        raise PermissionDenied(f"This needs one of these roles in the current tenant: {names}.")


def declared_roles(view: Any, key: str) -> RoleSpec | None:
    """The declaration of ``view`` (class or instance) for a method or action name."""
    declared = getattr(view, "required_roles", None)
    if isinstance(declared, Mapping):
        return declared.get(_ALIASES.get(key, key))
    return declared


def check_declared_roles(request: HttpRequest | Any, view: Any, key: str) -> None:
    if key in _UNDECLARED_OK:
        return
    spec = declared_roles(view, key)
    if spec is None:
        # Fail closed: a view someone forgot to declare is refused, not opened.
        raise PermissionDenied("This action has no declared roles, so nobody may use it.", code="roles_not_declared")
    if spec in (PUBLIC, SIGNED_IN):
        return  # sign-in (if needed) is checked by the view's authentication
    require_role(request, spec)  # type: ignore[arg-type]


class TenantRoleRequiredMixin(LoginRequiredMixin):
    """HTML views: signed in, a current tenant, and the roles declared for the method."""

    required_roles: Declaration | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        method = request.method.lower() if request.method else "get"
        if getattr(request, "tenant", None) is None and declared_roles(self, method) != SIGNED_IN:
            raise PermissionDenied("You are not a member of any active tenant.", code="no_tenant")
        if method in getattr(self, "http_method_names", ()) and hasattr(self, _ALIASES.get(method, method)):
            check_declared_roles(request, self, method)
        return super().dispatch(request, *args, **kwargs)


def declare_roles(spec: RoleSpec) -> Any:
    """Function views: ``@declare_roles(PUBLIC)``. Checks the roles like the mixin does."""

    def decorate(func: Any) -> Any:
        from functools import wraps

        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            check_declared_roles(request, wrapper, request.method.lower() if request.method else "get")
            return func(request, *args, **kwargs)

        wrapper.required_roles = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


# --- The completeness check ------------------------------------------------------------------

# Third-party views that bring their own access rules (Django admin: staff only; the schema and
# its docs: public by design; DRF's API root: a list of links).
_THIRD_PARTY = ("django.contrib.admin", "django.contrib.auth", "drf_spectacular", "rest_framework.routers")


def _walk(patterns: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    from django.urls import URLResolver

    for pattern in patterns:
        if isinstance(pattern, URLResolver) and pattern.namespace == "admin":
            continue  # the Django admin: staff only, checked by the admin site itself
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def _handlers(callback: Any) -> tuple[Any, list[str]] | None:
    """(the object holding the declaration, the method or action names it must declare)."""
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:
        return callback, ["get"]  # a function view: one declaration for all methods
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route: method -> action name
        return cls, sorted(set(actions.values()))
    names = [m for m in getattr(cls, "http_method_names", []) if m not in ("head", "options") and hasattr(cls, m)]
    return cls, names


def undeclared_actions(patterns: Iterable[Any] | None = None) -> list[str]:
    """Every ``route method-or-action`` in the URLconf that has no declared roles."""
    from django.urls import get_resolver

    missing = []
    for route, callback in _walk(patterns if patterns is not None else get_resolver().url_patterns):
        module = getattr(
            getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback, "__module__", ""
        )
        if module.startswith(_THIRD_PARTY):
            continue
        holder, names = _handlers(callback)  # type: ignore[misc]
        missing += [f"{route} {name}" for name in names if declared_roles(holder, name) is None]
    return sorted(set(missing))
