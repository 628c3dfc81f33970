"""Writes for policies: save a version (validated and compiled first), activate a version,
set subject attributes. Each is one transaction with its audit event."""

from __future__ import annotations

import hashlib
import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.services import audit_record

from .environments import check as check_environment
from .environments import first_name, prod_name, register
from .lac.language import PolicySyntaxError, compile_policy
from .models import Deployment, Policy, PolicyVersion, SubjectAttributes

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def policy_check_source(source: str) -> None:
    """Raise ValidationFailed listing every problem with its line and column."""
    try:
        compile_policy(source)
    except PolicySyntaxError as exc:
        raise ValidationFailed(
            f"The policy has {len(exc.problems)} problem(s); the first is at {exc}",
            code="invalid_policy",
            details={"problems": [p.as_dict() for p in exc.problems]},
        ) from exc


def policy_save_version(
    *,
    actor: AbstractBaseUser,
    slug: str,
    source: str,
    name: str = "",
    note: str = "",
    activate: bool = False,
    environment: str | None = None,
) -> PolicyVersion:
    """Save ``source`` as the next version of policy ``slug`` (created on first save).
    Invalid source, or source identical to the latest version, stores nothing. ``activate``
    puts the new version in force: in ``environment`` when given (pages and API pass the
    first environment, the only one an author may activate in directly), else directly in
    prod, the tooling path (fixtures, the red-team world) that the drift check reports as a
    hotfix until it is promoted."""
    if not SLUG.match(slug or ""):
        raise ValidationFailed("Use lower-case letters, digits and dashes for the slug.", details={"slug": "invalid"})
    policy_check_source(source)
    mode = compile_policy(source).mode
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(slug=slug).first()
        if policy is None:
            try:
                with transaction.atomic():
                    policy = Policy.objects.create(slug=slug, name=name or slug, created_by=actor)
            except IntegrityError as exc:
                raise Conflict("The policy was created concurrently; retry.") from exc
            audit_record("policy.created", actor=actor, target=policy, payload={"slug": slug})
        latest = policy.versions.order_by("-number").first()
        if latest is not None and latest.source == source:
            raise ValidationFailed(
                f"This is identical to version {latest.number}, the latest; change something before saving.",
                code="identical_version",
                details={"previous_version": latest.number},
            )
        version = PolicyVersion.objects.create(
            policy=policy,
            number=(latest.number + 1) if latest else 1,
            source=source,
            source_hash=hashlib.sha256(source.encode()).hexdigest(),
            mode=mode,
            note=note[:300],
            created_by=actor,
        )
        audit_record(
            "policy.version_saved",
            actor=actor,
            target=version,
            reason=note,
            payload={"policy": slug, "version": version.number, "source_hash": version.source_hash, "mode": mode},
        )
        if activate and environment and environment != prod_name():
            register(policy=policy, environment=environment, version=version, kind=Deployment.Kind.DEV, actor=actor)
        elif activate:
            _activate(policy, version, actor)
    return version


def _activate(policy: Policy, version: PolicyVersion, actor: AbstractBaseUser) -> None:
    previous = policy.active_version
    Policy.objects.filter(pk=policy.pk).update(active_version=version)
    policy.active_version = version
    audit_record(
        "policy.activated",
        actor=actor,
        target=version,
        payload={"policy": policy.slug, "version": version.number, "previous": previous.number if previous else None},
    )


def policy_activate(*, actor: AbstractBaseUser, slug: str, number: int) -> PolicyVersion:
    """Put a version in force directly in prod, bypassing the registry: the operators' hotfix
    path (and the game-day drill's). Audited; the drift check reports it until promoted,
    auto-merged or rolled back. Pages and the API never call it."""
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(slug=slug).first()
        version = policy.versions.filter(number=number).first() if policy else None
        if version is None:
            raise NotFound(f"No version {number} of policy {slug!r}.")
        _activate(policy, version, actor)
    return version


def policy_put_in_force(*, actor: AbstractBaseUser, slug: str, number: int, environment: str) -> PolicyVersion:
    """Put version ``number`` in force in the first environment. Every later environment is
    reached by promotion (apps.policy_studio.promotions), so this refuses them with a 409."""
    environment = check_environment(environment)
    if environment != first_name():
        raise Conflict(
            f"Versions reach {environment} by promotion, not by activation.",
            code="promotion_required",
            details={"environment": environment, "activate_only_in": first_name()},
        )
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(slug=slug).first()
        version = policy.versions.filter(number=number).first() if policy else None
        if version is None:
            raise NotFound(f"No version {number} of policy {slug!r}.")
        register(policy=policy, environment=environment, version=version, kind=Deployment.Kind.DEV, actor=actor)
    return version


def policy_deactivate(*, actor: AbstractBaseUser, slug: str) -> Policy:
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(slug=slug).first()
        if policy is None:
            raise NotFound(f"No policy {slug!r}.")
        Policy.objects.filter(pk=policy.pk).update(active_version=None)
        audit_record("policy.deactivated", actor=actor, target=policy, payload={"policy": slug})
    policy.refresh_from_db()
    return policy


def subject_attributes_set(
    *, actor: AbstractBaseUser, user: AbstractBaseUser, groups: list[str], clearance: int
) -> SubjectAttributes:
    if not 0 <= clearance <= 10:
        raise ValidationFailed("clearance must be 0..10.", details={"clearance": "out_of_range"})
    with transaction.atomic():
        attrs, _ = SubjectAttributes.objects.update_or_create(
            user=user, defaults={"groups": sorted(set(groups)), "clearance": clearance}
        )
        audit_record(
            "subject_attributes.set",
            actor=actor,
            target=attrs,
            payload={"user": user.get_username(), "groups": attrs.groups, "clearance": clearance},
        )
    return attrs
