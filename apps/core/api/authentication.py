"""Bearer tokens bound to one user in one tenant (``Authorization: Bearer tf_…``)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from ..models import ApiToken, Membership


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        # Looked up by hash across tenants: the token itself names its tenant.
        token = ApiToken.all_tenants.select_related("user", "tenant").filter(key_hash=ApiToken.hash_key(key)).first()
        if token is None or not token.is_usable or not token.user.is_active or not token.tenant.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if not Membership.all_tenants.filter(tenant=token.tenant, user=token.user, is_active=True).exists():
            raise exceptions.AuthenticationFailed("The token's user is no longer a member of its tenant.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.all_tenants.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes the token scheme in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "BearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token: `Authorization: Bearer tf_…`"}
