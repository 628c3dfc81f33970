"""The OpenAPI schema documents the error answers every operation can give, all in the one
envelope ``{code, message, details}`` (``apps.core.api.errors``), and what the list
endpoints accept (``page``, ``page_size`` within their bounds)."""

from __future__ import annotations

from typing import Any

from .pagination import MAX_PAGE, StandardPagination

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "details"],
    "properties": {
        "code": {"type": "string", "description": "Machine-readable reason, e.g. permission_denied."},
        "message": {"type": "string", "description": "A sentence for people."},
        "details": {"type": "object", "additionalProperties": True},
    },
}

# Answers any operation can give: bad credentials, a role or tenant it lacks, an object it
# cannot see (another tenant's is the same 404), content negotiation, throttling, and the
# database briefly unavailable (503 with Retry-After).
_ALWAYS = {
    "401": "Not signed in, or the token is invalid, expired or revoked.",
    "403": "Signed in, but the current tenant or your roles do not allow this.",
    "404": "No such object in your tenant (another tenant's objects answer the same).",
    "406": "The Accept header asks for a format the API does not produce.",
    "429": "Too many requests for this tenant; see Retry-After.",
    "503": "The database is briefly unavailable; see Retry-After.",
}
_WITH_INPUT = {"400": "The request is invalid; details name each problem."}
_WITH_BODY = {
    "409": "The request conflicts with the object's current state.",
    "413": "The request body is too large.",
    "415": "Send application/json (or the documented upload type).",
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def document_error_answers(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (see SPECTACULAR_SETTINGS)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name, component in schemas.items():
        # Request bodies are StrictSerializers: an unknown field is a 400, so say so.
        if name.endswith("Request") and component.get("type") == "object" and "properties" in component:
            component.setdefault("additionalProperties", False)
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            answers = dict(_ALWAYS)
            if operation.get("parameters") or operation.get("requestBody") or method != "get":
                answers.update(_WITH_INPUT)
            if method in ("post", "put", "patch"):
                answers.update(_WITH_BODY)
            for status, description in answers.items():
                responses.setdefault(status, _error(description))
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "page_size" and parameter.get("in") == "query":
                    parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": StandardPagination.max_page_size}
                elif parameter.get("name") == "page" and parameter.get("in") == "query":
                    parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
    return result
