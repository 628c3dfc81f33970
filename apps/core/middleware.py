"""Request context (request id, structured access log), body size limit, and tenancy."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse

from . import selectors
from .logging import bind_log_context
from .tenancy import reset_current_tenant, set_current_tenant

logger = logging.getLogger("trustfabric.request")

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
TENANT_SESSION_KEY = "tf_tenant"


class RequestContextMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` if it looks sane), binds it
    to every log line, echoes it back, and writes one access-log line per request. The log
    names the URL *route*, not the raw path, so tokens carried in paths never reach logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        structlog.contextvars.clear_contextvars()
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        bind_log_context(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
        match = getattr(request, "resolver_match", None)
        logger.info(
            "request",
            extra={
                "method": request.method,
                "route": match.route if match else "<unmatched>",
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        response["X-Request-ID"] = request_id
        structlog.contextvars.clear_contextvars()
        return response


class RequestSizeLimitMiddleware:
    """Refuse bodies over ``TF_MAX_REQUEST_BYTES`` before anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = settings.TF_MAX_REQUEST_BYTES
        if length < 0 or length > limit:
            from .api.errors import error_http_response, too_large_body  # the API imports this module

            if length > limit:
                return error_http_response(413, **too_large_body())
            return error_http_response(
                400, "bad_content_length", "The Content-Length header is not a number.", {"max_bytes": limit}
            )
        return self.get_response(request)


# A lost or refused database connection (PostgreSQL restarting, failing over): nothing was
# written, so the caller may safely try again.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def reset_broken_connections() -> None:
    """Close connections a failed query left unusable, so the next query reconnects."""
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        conn.close_if_unusable_or_obsolete()


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    from django.template.loader import render_to_string

    reset_broken_connections()  # so the caller's retry, and the next request, reconnect
    body = {
        "code": "database_unavailable",
        "message": f"The database is briefly unavailable. Retry in {RETRY_AFTER_SECONDS} seconds.",
        "details": {"retry_after_seconds": RETRY_AFTER_SECONDS},
    }
    if request.path.startswith("/api/"):
        from .api.errors import error_http_response

        response: HttpResponse = error_http_response(503, **body)
    else:
        response = HttpResponse(render_to_string("core/database_unavailable.html", {"error": body}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    logger.warning("database unavailable", extra={"method": request.method})
    return response


class TenantMiddleware:
    """Sets the current tenant for a signed-in user: the one chosen with the tenant
    switcher (stored in the session) if the user still belongs to it, else the first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = None
        roles: frozenset[str] = frozenset()
        available: list = []
        try:
            signed_in = request.user.is_authenticated
        except DATABASE_UNAVAILABLE:
            # The session and user lookups are reads: try once more on a fresh connection.
            reset_broken_connections()
            try:
                signed_in = request.user.is_authenticated
            except DATABASE_UNAVAILABLE:
                return database_unavailable_response(request)
        if signed_in:
            try:
                access = selectors.tenant_access_for_user(request.user)
            except DATABASE_UNAVAILABLE:
                return database_unavailable_response(request)
            available = list(access)
            wanted = request.session.get(TENANT_SESSION_KEY)
            chosen = next((t for t in available if t.slug == wanted), available[0] if available else None)
            if chosen is not None:
                tenant, roles = chosen, access[chosen]
        request.tenant = tenant  # type: ignore[attr-defined]
        request.tenant_roles = roles  # type: ignore[attr-defined]
        request.available_tenants = available  # type: ignore[attr-defined]
        token = set_current_tenant(tenant)
        if tenant is not None:
            bind_log_context(tenant_id=tenant.pk)
        try:
            return self.get_response(request)
        finally:
            reset_current_tenant(token)


class DomainErrorMiddleware:
    """HTML views may raise domain errors; show them as a page with the right status
    (JSON for paths under /api/, which DRF views normally answer themselves).

    A lost database connection is not a bug: a read (GET/HEAD/OPTIONS) is run once more on
    a fresh connection, and otherwise the answer is 503 with ``Retry-After``. API views hand
    these errors here (see ``apps.core.api.errors``) so both kinds of view retry the same way."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.shortcuts import render

        from .errors import DomainError
        from .tenancy import TenantNotSet

        if isinstance(exception, DATABASE_UNAVAILABLE):
            return self._database_unavailable(request)
        if isinstance(exception, TenantNotSet):
            exception = DomainError(
                "You are not a member of any active tenant, so there is nothing to show here.", code="no_tenant"
            )
            exception.status = 403
        if not isinstance(exception, DomainError):
            return None
        body = {"code": exception.code, "message": exception.message, "details": exception.details}
        if request.path.startswith("/api/"):
            from .api.errors import error_http_response

            return error_http_response(exception.status, **body)
        return render(request, "error.html", {"error": body, "status": exception.status}, status=exception.status)

    def _database_unavailable(self, request: HttpRequest) -> HttpResponse:
        if request.method not in SAFE_METHODS or getattr(request, "tf_db_retried", False):
            return database_unavailable_response(request)
        request.tf_db_retried = True  # type: ignore[attr-defined]
        reset_broken_connections()
        match = request.resolver_match
        if match is None:
            return database_unavailable_response(request)
        try:
            return match.func(request, *match.args, **match.kwargs)
        except Exception as exc:
            response = self.process_exception(request, exc)
            if response is None:
                raise
            return response
