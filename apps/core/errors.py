"""Domain exceptions. Services raise these; the API maps them once to
``{code, message, details}`` with a 4xx status (``apps.core.api.errors``), and HTML views
show the message. A 500 is always a bug."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "validation_error"  # subclasses and callers name a more precise code

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details if details is not None else {}


class ValidationFailed(DomainError):
    status = 400
    code = "validation_error"


class NotFound(DomainError):
    """Missing and not-yours look the same: both are 404."""

    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"


class Conflict(DomainError):
    status = 409
    code = "conflict"
