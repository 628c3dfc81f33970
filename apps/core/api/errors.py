"""One mapping from exceptions to API answers: ``{code, message, details}``, 4xx."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from ..errors import DomainError

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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", "The request body is too large."), status=413)
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
