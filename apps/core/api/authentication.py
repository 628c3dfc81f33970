"""Bearer tokens bound to one user in one tenant (``Authorization: Bearer tf_…``).

A token that authenticated is remembered by this process for ``TF_API_TOKEN_CACHE_SECONDS``
(10 s), with the user, tenant and roles it was found with, so a busy client's requests do
not each pay two database queries. Every request still reads one shared value, the *auth
epoch*, from the cache: revoking a token, and any save or delete of a token, a membership,
a user or a tenant, changes the epoch (``bump_auth_epoch``), and every web process then
looks the token up again on its next request. A change written straight to the database
(SQL, ``QuerySet.update``) takes effect within the 10 s. An unknown, revoked or expired
token is never remembered, and expiry is checked on every request. With a cache that is
not shared between processes (the embedded profile's in-memory one) nothing is remembered.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from ..models import ApiToken, Membership, Tenant

EPOCH_KEY = "tf:auth-epoch"
clock: Callable[[], float] = time.monotonic  # tests move it


@dataclass(frozen=True)
class _Known:
    at: float
    epoch: Any
    token: ApiToken


_known: dict[str, _Known] = {}
_known_lock = threading.Lock()
_KNOWN_MAX = 10_000


def bump_auth_epoch(**kwargs: Any) -> None:
    """Every process forgets the tokens it remembers (on its next request). Once now and once
    more when the surrounding transaction commits: another process that looked the token up
    between the two read the old row, and the second bump makes it look again. A sign-in's
    ``last_login`` save changes nothing a token depends on and bumps nothing."""
    if set(kwargs.get("update_fields") or ()) == {"last_login"}:
        return
    _new_epoch()
    transaction.on_commit(_new_epoch)


def _new_epoch() -> None:
    cache.set(EPOCH_KEY, secrets.token_hex(8), timeout=None)
    _known.clear()


def remember_seconds() -> float:
    """``TF_API_TOKEN_CACHE_SECONDS``, or 0 when the cache is this process's own (in-memory
    or dummy): other processes would never see the epoch change, so nothing is remembered."""
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return 0.0 if backend in ("LocMemCache", "DummyCache") else settings.TF_API_TOKEN_CACHE_SECONDS


def forget_cached_tokens() -> None:
    _known.clear()


def connect() -> None:
    for model in (ApiToken, Membership, Tenant, get_user_model()):
        for signal in (post_save, post_delete):
            signal.connect(bump_auth_epoch, sender=model, dispatch_uid=f"auth-epoch-{signal}-{model.__name__}")


def _lookup(key_hash: str) -> ApiToken:
    token = ApiToken.all_tenants.select_related("user", "tenant").filter(key_hash=key_hash).first()
    if token is None or not token.is_usable or not token.user.is_active or not token.tenant.is_active:
        raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
    # The user's roles in the token's tenant: the membership check and, kept on the token,
    # the roles the view checks (so the request needs no second membership query).
    roles = frozenset(
        Membership.all_tenants.filter(tenant=token.tenant, user=token.user, is_active=True).values_list(
            "role", flat=True
        )
    )
    if not roles:
        raise exceptions.AuthenticationFailed("The token's user is no longer a member of its tenant.")
    token.roles = roles
    return token


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
        key_hash = ApiToken.hash_key(key)
        ttl = remember_seconds()
        epoch = cache.get(EPOCH_KEY) if ttl > 0 else None
        now = clock()
        known = _known.get(key_hash)
        if known is not None and epoch is not None and known.epoch == epoch and now - known.at < ttl:
            if known.token.is_usable:
                token = known.token
            else:  # expired while remembered
                _known.pop(key_hash, None)
                raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        else:
            try:
                token = _lookup(key_hash)
            except exceptions.AuthenticationFailed:
                _known.pop(key_hash, None)  # an older epoch coming back must not revive it
                raise
            if epoch is None and ttl > 0:  # no epoch yet (a flushed or new cache): start one
                cache.add(EPOCH_KEY, secrets.token_hex(8), timeout=None)
                epoch = cache.get(EPOCH_KEY)
            if ttl > 0 and epoch is not None:
                with _known_lock:
                    if len(_known) >= _KNOWN_MAX:
                        _known.clear()
                    _known[key_hash] = _Known(now, epoch, token)
        stamp = timezone.now()
        if token.last_used_at is None or (stamp - token.last_used_at).total_seconds() > 60:
            token.last_used_at = stamp
            ApiToken.all_tenants.filter(pk=token.pk).update(last_used_at=stamp)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes the token scheme in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "BearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token: `Authorization: Bearer tf_…`"}
