"""Environments and the registry (docs/studio.md).

Each tenant has the environments named by ``TF_STUDIO_ENVIRONMENTS`` (first to last; the last
is prod). Each runs one version per policy. The registry (``Deployment``, append-only) says
what each environment *should* run: its latest row per (policy, environment). What prod
*runs* is ``Policy.active_version`` — the pointer the query pipeline has always read — so a
version put in force there any other way than through a promotion shows up as drift. The
other environments run exactly what the registry says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, QuerySet, Subquery

from apps.core.errors import ValidationFailed
from apps.core.services import audit_record

from .models import Deployment, Policy, PolicyVersion


def names() -> list[str]:
    return list(settings.TF_STUDIO_ENVIRONMENTS)


def prod_name() -> str:
    return names()[-1]


def first_name() -> str:
    return names()[0]


def check(name: str | None, *, field: str = "environment") -> str:
    """The environment ``name`` (prod when empty), or a 400 naming the valid ones."""
    if not name:
        return prod_name()
    if name not in names():
        raise ValidationFailed(
            f"Unknown environment {name!r}; use one of {', '.join(names())}.",
            code="unknown_environment",
            details={field: "unknown", "environments": names()},
        )
    return name


def next_after(name: str) -> str | None:
    envs = names()
    i = envs.index(name)
    return envs[i + 1] if i + 1 < len(envs) else None


def previous_of(name: str) -> str | None:
    envs = names()
    i = envs.index(name)
    return envs[i - 1] if i > 0 else None


def digest(version: PolicyVersion) -> str:
    """Recomputed from the stored source, so a changed row no longer matches its registry."""
    return hashlib.sha256(version.source.encode()).hexdigest()


def registry_entry(policy: Policy, environment: str) -> Deployment | None:
    return (
        Deployment.objects.filter(policy=policy, environment=environment)
        .select_related("version", "actor", "promotion")
        .order_by("-created_at", "-pk")
        .first()
    )


def registry_history(policy: Policy, environment: str) -> QuerySet[Deployment]:
    return Deployment.objects.filter(policy=policy, environment=environment).select_related("version", "actor")


def running_version(policy: Policy, environment: str) -> PolicyVersion | None:
    if environment == prod_name():
        if policy.active_version_id is None:
            return None
        return PolicyVersion.objects.filter(pk=policy.active_version_id).first()
    entry = registry_entry(policy, environment)
    return entry.version if entry else None


def running_version_ids(environment: str) -> list[int]:
    """What ``environment`` runs, one version per policy (the query pipeline's lookup)."""
    if environment == prod_name():
        return list(Policy.objects.exclude(active_version=None).values_list("active_version_id", flat=True))
    latest = Deployment.objects.filter(environment=environment, policy=OuterRef("pk")).order_by("-created_at", "-pk")
    ids = Policy.objects.annotate(v=Subquery(latest.values("version_id")[:1])).exclude(v=None)
    return list(ids.values_list("v", flat=True))


def register(
    *,
    policy: Policy,
    environment: str,
    version: PolicyVersion,
    kind: str,
    actor: AbstractBaseUser | None,
    promotion: object | None = None,
) -> Deployment:
    """Record that ``environment`` should run ``version`` (and, for prod, put it in force).
    Call inside the transaction of the action, which the audit event joins."""
    previous = registry_entry(policy, environment)
    entry = Deployment.objects.create(
        policy=policy,
        environment=environment,
        version=version,
        digest=digest(version),
        kind=kind,
        actor=actor,
        promotion=promotion,
    )
    if environment == prod_name():
        Policy.objects.filter(pk=policy.pk).update(active_version=version)
        policy.active_version = version
    audit_record(
        "policy.registered",
        actor=actor,
        target=version,
        payload={
            "policy": policy.slug,
            "environment": environment,
            "version": version.number,
            "previous": previous.version.number if previous else None,
            "kind": kind,
            "digest": entry.digest,
        },
    )
    return entry


@dataclass
class EnvironmentRow:
    name: str
    registered: Deployment | None
    running: PolicyVersion | None

    @property
    def in_sync(self) -> bool:
        return (self.registered.version_id if self.registered else None) == (self.running.pk if self.running else None)


def environment_rows(policy: Policy) -> list[EnvironmentRow]:
    return [EnvironmentRow(n, registry_entry(policy, n), running_version(policy, n)) for n in names()]
