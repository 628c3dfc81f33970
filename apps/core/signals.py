"""Sign-ins, sign-outs and failed sign-ins are audit events in the user's tenants."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.dispatch import receiver

from .selectors import tenant_access_for_user
from .services import audit_record
from .tenancy import tenant_context


def _audit_in_each_tenant(action: str, user: Any) -> None:
    if user is None:
        return
    for tenant in tenant_access_for_user(user):
        with tenant_context(tenant), transaction.atomic():
            audit_record(action, actor=user, target=user, target_type="auth.user")


@receiver(user_logged_in)
def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _audit_in_each_tenant("auth.login", user)


@receiver(user_logged_out)
def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _audit_in_each_tenant("auth.logout", user)
