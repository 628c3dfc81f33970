"""One mapping from exceptions to API answers: ``{code, message, details}``, 4xx."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from rest_framework import exceptions as drf
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ..errors import DomainError
from ..middleware import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, SAFE_METHODS, reset_broken_connections
from .parsers import BodyRefused

_DRF_CODES = {
    drf.ParseError: ("malformed_request", "The request body could not be parsed: {detail}"),
    drf.AuthenticationFailed: ("authentication_failed", "{detail}"),
    drf.NotAuthenticated: ("not_authenticated", "Authentication credentials were not provided."),
    drf.PermissionDenied: ("permission_denied", "{detail}"),
    drf.NotFound: ("not_found", "Not found."),
    drf.MethodNotAllowed: ("method_not_allowed", "{detail}"),
    drf.NotAcceptable: ("not_acceptable", "{detail}"),
    drf.UnsupportedMediaType: ("unsupported_media_type", "{detail} Send application/json."),
    drf.Throttled: ("throttled", "Too many requests for this tenant; retry later."),
    drf.ValidationError: ("validation_error", "The request has invalid fields; see details."),
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details if details is not None else {}}


def error_http_response(status: int, code: str, message: str, details: Any = None) -> HttpResponse:
    """The envelope for answers given outside DRF (middleware), rendered by DRF's JSON
    renderer so the bytes match a DRF error exactly (compact, UTF-8, same content type)."""
    body = JSONRenderer().render(error_body(code, message, details))
    return HttpResponse(body, status=status, content_type="application/json")


def too_large_body() -> dict[str, Any]:
    limit = settings.TF_MAX_REQUEST_BYTES
    return error_body("request_too_large", f"The request body must be at most {limit} bytes.", {"max_bytes": limit})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        retry = getattr(exc, "retry_after", None)  # quotas, back-pressure: when to try again
        return Response(
            error_body(exc.code, exc.message, exc.details),
            status=exc.status,
            headers={"Retry-After": str(retry)} if retry else None,
        )
    if isinstance(exc, BodyRefused):
        return Response(error_body(exc.tf_code, str(exc.detail), exc.tf_details), status=400)
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return _database_unavailable(context)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(too_large_body(), status=413)
    elif isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if not isinstance(exc, drf.APIException):
        return None  # a real bug: let Django answer 500 and log it
    code, template = next(
        ((c, t) for klass, (c, t) in _DRF_CODES.items() if isinstance(exc, klass)),
        (exc.default_code, "{detail}"),
    )
    details: Any = {}
    if isinstance(exc, drf.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    if isinstance(exc, drf.Throttled):
        details = {"retry_after_seconds": exc.wait}
        if exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1)
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return Response(
        error_body(code, template.format(detail=detail.rstrip(".") + "."), details),
        status=exc.status_code,
        headers=headers,
    )


def _database_unavailable(context: dict[str, Any]) -> Response | None:
    request = getattr(context.get("request"), "_request", None)
    if request is not None and request.method in SAFE_METHODS and not getattr(request, "tf_db_retried", False):
        return None  # re-raised to DomainErrorMiddleware, which runs the read once more
    reset_broken_connections()  # so the caller's retry, and the next request, reconnect
    return Response(
        error_body(
            "database_unavailable",
            f"The database is briefly unavailable. Retry in {RETRY_AFTER_SECONDS} seconds.",
            {"retry_after_seconds": RETRY_AFTER_SECONDS},
        ),
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
