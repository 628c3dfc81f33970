"""The tenant admin's "People and approvers" pages: reads and audited writes of what makes
someone able to act — subject attributes (groups, clearance) that policies test, and the
django-guardian object permission ``graphs.approve_access`` on a dataset that makes a member
with the approver role an eligible JIT approver, held directly or through a group.

Django groups are global, so a tenant's groups are the ones named ``<tenant slug>/<name>``;
only members of the current tenant can be put in them, and another tenant's groups, users
and datasets are "not found"."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from guardian.shortcuts import assign_perm, get_groups_with_perms, get_users_with_perms, remove_perm

from apps.core.errors import NotFound, ValidationFailed
from apps.core.models import Membership
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant
from apps.graphs.models import Dataset

from .models import SubjectAttributes

APPROVE_PERM = "graphs.approve_access"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _datasets() -> Any:
    return Dataset.objects.order_by("slug")


def group_prefix() -> str:
    return f"{require_current_tenant().slug}/"


def tenant_groups() -> Any:
    return Group.objects.filter(name__startswith=group_prefix()).order_by("name")


def member(username: str) -> AbstractBaseUser:
    """A user with an active membership of the current tenant, else NotFound."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None or not Membership.objects.filter(user=user, is_active=True).exists():
        raise NotFound(f"No member {username!r} in this tenant.")
    return user


def dataset(slug: str) -> Any:
    found = _datasets().filter(slug=slug).first()
    if found is None:
        raise NotFound(f"No dataset {slug!r}.")
    return found


def tenant_group(name: str, *, create: bool = False) -> Group:
    if not _NAME.match(name):
        raise ValidationFailed("Group names use lower-case letters, digits, '-' and '_'.", details={"group": "invalid"})
    full = group_prefix() + name
    if create:
        return Group.objects.get_or_create(name=full)[0]
    group = Group.objects.filter(name=full).first()
    if group is None:
        raise NotFound(f"No group {name!r} in this tenant.")
    return group


def people_overview() -> dict[str, Any]:
    prefix = group_prefix()
    memberships = Membership.objects.filter(is_active=True).select_related("user").order_by("user__username")
    attributes = {a.user_id: a for a in SubjectAttributes.objects.all()}
    people: dict[int, dict[str, Any]] = {}
    for m in memberships:
        row = people.setdefault(m.user_id, {"user": m.user, "roles": [], "attributes": attributes.get(m.user_id)})
        row["roles"].append(m.get_role_display())
    for row in people.values():
        row["tenant_groups"] = [
            g.name[len(prefix) :] for g in row["user"].groups.filter(name__startswith=prefix).order_by("name")
        ]
    datasets = []
    for ds in _datasets():
        users = get_users_with_perms(ds, only_with_perms_in=["approve_access"], with_group_users=False)
        groups = get_groups_with_perms(ds, attach_perms=True)
        datasets.append(
            {
                "dataset": ds,
                "users": sorted(u.username for u in users if u.pk in people),
                "groups": sorted(
                    g.name[len(prefix) :]
                    for g, perms in groups.items()
                    if "approve_access" in perms and g.name.startswith(prefix)
                ),
            }
        )
    return {
        "people": list(people.values()),
        "datasets": datasets,
        "groups": [g.name[len(prefix) :] for g in tenant_groups()],
    }


def subject_attributes_set(*, actor: AbstractBaseUser, username: str, groups: list[str], clearance: int) -> Any:
    """Set a member's policy attributes. Audited with the values before and after."""
    user = member(username)
    if not 0 <= clearance <= 10:
        raise ValidationFailed("Clearance is a number from 0 to 10.", details={"clearance": clearance})
    bad = [g for g in groups if not _NAME.match(g)]
    if bad:
        raise ValidationFailed("Group names use lower-case letters, digits, '-' and '_'.", details={"groups": bad})
    groups = sorted(set(groups))
    with transaction.atomic():
        row, _ = SubjectAttributes.objects.select_for_update().get_or_create(user=user)
        before = {"groups": list(row.groups), "clearance": row.clearance}
        row.groups, row.clearance = groups, clearance
        row.save(update_fields=["groups", "clearance"])
        audit_record(
            "subject.attributes_set",
            actor=actor,
            target=row,
            payload={
                "user": user.get_username(),
                "before": before,
                "after": {"groups": groups, "clearance": clearance},
            },
        )
    return row


def approver_permission_set(
    *, actor: AbstractBaseUser, dataset_slug: str, username: str = "", group: str = "", granted: bool
) -> None:
    """Grant or withdraw ``graphs.approve_access`` on one dataset, to a member or a tenant
    group. Audited; idempotent (granting twice records one change)."""
    if bool(username) == bool(group):
        raise ValidationFailed("Name either a member or a group.", details={"holder": "one_of_user_or_group"})
    ds = dataset(dataset_slug)
    holder: Any = member(username) if username else tenant_group(group, create=granted)
    with transaction.atomic():
        had = (
            holder.has_perm(APPROVE_PERM, ds)
            if username
            else APPROVE_PERM.split(".")[1] in (get_groups_with_perms(ds, attach_perms=True).get(holder, []))
        )
        if had == granted:
            return
        (assign_perm if granted else remove_perm)(APPROVE_PERM, holder, ds)
        audit_record(
            "dataset.approver_granted" if granted else "dataset.approver_withdrawn",
            actor=actor,
            target=ds,
            payload={"user": username} if username else {"group": group},
        )


def tenant_group_member_set(*, actor: AbstractBaseUser, group: str, username: str, is_member: bool) -> None:
    """Put a member into (or take them out of) one of the tenant's groups. Audited."""
    user = member(username)
    target = tenant_group(group, create=is_member)
    with transaction.atomic():
        present = user.groups.filter(pk=target.pk).exists()
        if present == is_member:
            return
        (user.groups.add if is_member else user.groups.remove)(target)
        audit_record(
            "group.member_added" if is_member else "group.member_removed",
            actor=actor,
            target_type="auth.group",
            target_id=target.pk,
            payload={"group": group, "user": username},
        )
