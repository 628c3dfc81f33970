"""Drift (docs/studio.md): what an environment runs against what the registry says it should,
and the policies against the data they govern. ``drift_check`` runs per tenant from beat:

hotfix        prod runs a version the registry never promoted there (activated directly)
digest        a registered version whose source no longer matches its promoted digest
unclassified  the latest dataset version adds an attribute that no prod minimize rule covers
coverage      a dataset's classes leave a Tier-1 view field without a minimization rule

A hotfix is proposed back as an auto-merge promotion (gates attached); it is low risk only when
provably harmless and then merged after the soak time unless a reviewer objects. New findings
are mailed to the tenant's authors; findings whose cause is gone are resolved.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.models import Membership, Role
from apps.core.services import audit_record
from apps.graphs.models import TIER1_CLASSES, Dataset

from . import environments as envs
from . import selectors
from .compiled import compiled
from .lac.diff import diff_policies
from .models import Drift, Policy, PolicyVersion, PromotionRequest
from .promotions import _apply, event, promotion_create


def _hotfixes() -> list[dict[str, Any]]:
    prod = envs.prod_name()
    out = []
    for policy in Policy.objects.select_related("active_version").order_by("slug"):
        entry = envs.registry_entry(policy, prod)
        running = policy.active_version
        if (entry.version_id if entry else None) == (running.pk if running else None):
            continue
        registered = entry.version if entry else None
        formatting = bool(
            registered and running and diff_policies(registered.source, running.source).compiled_identical
        )
        out.append(
            {
                "kind": Drift.Kind.HOTFIX,
                "key": f"hotfix:{policy.pk}:{running.pk if running else 'none'}",
                "policy": policy,
                "environment": prod,
                "risk": "low" if formatting else "review",
                "summary": f"{prod} runs {running or 'nothing'} but the registry says "
                f"{registered or 'nothing'}: activated directly, never promoted",
                "details": {
                    "running": running.number if running else None,
                    "registered": registered.number if registered else None,
                    "formatting_only": formatting,
                },
                "running": running,
            }
        )
    return out


def _digests() -> list[dict[str, Any]]:
    out = []
    for policy in Policy.objects.order_by("slug"):
        for name in envs.names():
            entry = envs.registry_entry(policy, name)
            if entry is None or entry.digest == envs.digest(entry.version):
                continue
            out.append(
                {
                    "kind": Drift.Kind.DIGEST,
                    "key": f"digest:{entry.pk}",
                    "policy": policy,
                    "environment": name,
                    "risk": "review",
                    "summary": f"{entry.version} in {name} no longer matches the digest it was promoted with",
                    "details": {"promoted_digest": entry.digest, "now": envs.digest(entry.version)},
                }
            )
    return out


def _prod_versions() -> list[PolicyVersion]:
    ids = envs.running_version_ids(envs.prod_name())
    return list(PolicyVersion.objects.filter(pk__in=ids).select_related("policy"))


def _data() -> list[dict[str, Any]]:
    versions = _prod_versions()
    rules = [r for v in versions if v.mode == "enforce" for r in compiled(v).minimize]
    out = []
    for dataset in Dataset.objects.order_by("slug"):
        latest, *rest = list(dataset.versions.order_by("-number")[:2]) or [None]
        if latest is None or not rest:
            continue
        now = {**latest.attribute_classes["nodes"], **latest.attribute_classes["edges"]}
        before = {**rest[0].attribute_classes["nodes"], **rest[0].attribute_classes["edges"]}
        for attribute in sorted(set(now) - set(before)):
            if any(r.covers(attribute, now[attribute]) for r in rules) or now[attribute] not in TIER1_CLASSES:
                continue
            out.append(
                {
                    "kind": Drift.Kind.UNCLASSIFIED,
                    "key": f"unclassified:{dataset.slug}:{latest.number}:{attribute}",
                    "policy": None,
                    "environment": envs.prod_name(),
                    "risk": "review",
                    "summary": f"{dataset.slug} v{latest.number} adds {now[attribute]} attribute "
                    f"`{attribute}` that no rule in force minimizes",
                    "details": {"dataset": dataset.slug, "version": latest.number, "attribute": attribute},
                }
            )
    for row in selectors.tier1_coverage(versions).rows:
        for field_name, rule in row.rules.items():
            if rule is None:
                version = row.view.dataset.latest_version
                out.append(
                    {
                        "kind": Drift.Kind.COVERAGE,
                        "key": f"coverage:{row.view.slug}:{field_name}:{version.number if version else 0}",
                        "policy": None,
                        "environment": envs.prod_name(),
                        "risk": "review",
                        "summary": f"Tier-1 view {row.view.slug}: {field_name} ({row.tier1_fields[field_name]}) "
                        "has no minimization rule in force",
                        "details": {"view": row.view.slug, "field": field_name, "class": row.tier1_fields[field_name]},
                    }
                )
    return out


def _notify(found: list[Drift]) -> int:
    from apps.core import mail

    if not found:
        return 0
    users = {m.user for m in Membership.objects.filter(role__in=[Role.POLICY_AUTHOR, Role.ADMIN])}
    to = [u.email for u in users if u.email and u.is_active]
    lines = [f"{len(found)} new drift finding(s) in the Studio:"] + [f"- {d.summary}" for d in found]
    return mail.send(to, f"Studio: {len(found)} new drift finding(s)", [*lines, "", mail.link("studio-drift")])


def drift_check(*, actor: Any = None) -> dict[str, int]:
    """Detect, record, propose auto-merges, resolve what cleared; one tenant (the current)."""
    findings = _hotfixes() + _digests() + _data()
    keys = {f["key"] for f in findings}
    new: list[Drift] = []
    with transaction.atomic():
        open_keys = set(Drift.objects.exclude(status=Drift.Status.RESOLVED).values_list("key", flat=True))
        for f in findings:
            if f["key"] in open_keys:
                continue
            running = f.pop("running", None)
            drift = Drift.objects.create(**f)
            new.append(drift)
            event("drift_detected", policy=drift.policy, kind=drift.kind, risk=drift.risk, drift=drift.pk)
            audit_record("policy.drift_detected", target=drift, payload={"kind": drift.kind, "key": drift.key})
            if drift.kind == Drift.Kind.HOTFIX and running is not None:
                author = actor or running.created_by
                promotion = promotion_create(
                    actor=author,
                    slug=drift.policy.slug,
                    number=running.number,
                    target_env=drift.environment,
                    note=f"Auto-merge of drift #{drift.pk}",
                    kind=PromotionRequest.Kind.AUTO_MERGE,
                )
                drift.promotion = promotion
                drift.status = Drift.Status.MERGING
                drift.save(update_fields=["promotion", "status"])
        cleared = Drift.objects.exclude(status=Drift.Status.RESOLVED).exclude(key__in=keys)
        resolved = 0
        for drift in cleared:
            drift.status, drift.resolved_at = Drift.Status.RESOLVED, timezone.now()
            drift.resolution = drift.resolution or "cleared"
            drift.save(update_fields=["status", "resolved_at", "resolution"])
            resolved += 1
    merged = soak_sweep()
    transaction.on_commit(lambda: _notify(new))
    return {"detected": len(new), "resolved": resolved, "auto_merged": merged, "open": len(keys)}


def drift_risk_from_gates(promotion: PromotionRequest) -> None:
    """After an auto-merge's gates: the drift takes the promotion's risk; review = a human."""
    for drift in Drift.objects.filter(promotion=promotion).exclude(status=Drift.Status.RESOLVED):
        drift.risk = promotion.risk or drift.risk
        if promotion.kind != PromotionRequest.Kind.AUTO_MERGE or promotion.status == PromotionRequest.Status.FAILED:
            drift.risk, drift.status = "review", Drift.Status.OPEN
        drift.save(update_fields=["risk", "status"])


def soak_sweep() -> int:
    """Apply low-risk auto-merges whose soak time is over and that nobody objected to."""
    due = PromotionRequest.objects.filter(
        kind=PromotionRequest.Kind.AUTO_MERGE,
        status=PromotionRequest.Status.READY,
        risk="low",
        soak_until__lte=timezone.now(),
    )
    merged = 0
    for promotion in due:
        with transaction.atomic():
            _apply(promotion, None)
            for drift in Drift.objects.filter(promotion=promotion).exclude(status=Drift.Status.RESOLVED):
                drift.status, drift.resolved_at, drift.resolution = Drift.Status.RESOLVED, timezone.now(), "auto_merged"
                drift.save(update_fields=["status", "resolved_at", "resolution"])
                event("drift_auto_merged", policy=drift.policy, drift=drift.pk, promotion=promotion.pk)
                audit_record("policy.drift_auto_merged", target=drift, payload={"promotion": promotion.pk})
            merged += 1
    return merged
