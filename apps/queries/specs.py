"""The query spec a body asks for, the same on the query page and POST /api/queries/: the
JSON spec itself, or a ``prov`` provenance chain compiled to the spec it describes (through
the declared chain compiler), with the body's other members on top."""

from __future__ import annotations

from typing import Any

from apps.core.errors import ValidationFailed

from . import hooks
from .api.serializers import ProvChainSerializer


def spec_from_body(body: Any) -> Any:
    if not (isinstance(body, dict) and "prov" in body):
        return body
    prov = ProvChainSerializer(data={"prov": body["prov"]})
    if not prov.is_valid():  # a number or list is a validation error, not DSL
        raise ValidationFailed("prov must be the text of a provenance chain.", details=prov.errors)
    compiler = hooks.chain_compiler()
    if compiler is None:
        raise ValidationFailed("Provenance chains are not available here.", code="prov_unavailable")
    extra = {k: v for k, v in body.items() if k != "prov"}
    return {**compiler(prov.validated_data["prov"]), **extra}
