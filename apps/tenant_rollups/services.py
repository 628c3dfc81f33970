"""Writes for weekly digests: build + sign + log one tenant-week, queue its e-mails, record
reads and unsubscribes, keep preferences and action items. Each service is one transaction
with its audit event; e-mail goes out through the outbox after commit."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.crypto import signing
from apps.core.errors import NotFound, PermissionDenied, ValidationFailed
from apps.core.keys import signer
from apps.core.models import Membership, Role, Tenant
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant, tenant_context
from apps.provenance.services import log_append

from . import periods
from .models import ActionItem, Digest, DigestDelivery, DigestPreference
from .offline import DOCUMENT_TYPE, PAYLOAD_TYPE, SIGNING_ROLE, canonical, envelope_leaf
from .sections import Context, collect_all
from .sections.builtin import ORDER

logger = logging.getLogger(__name__)

TREND_WEEKS = 8
READ_TARGET = 0.95
# Roles that may read digests and subscribe; admins (the tenant's owners) are subscribed
# unless they opt out.
DIGEST_READERS = frozenset({Role.ADMIN, Role.AUDITOR, Role.POLICY_AUTHOR, Role.APPROVER})
ITEM_EDITORS = frozenset({Role.ADMIN})


# --- Building the digest --------------------------------------------------------------------


def _owner_for_items() -> AbstractBaseUser | None:
    membership = (
        Membership.objects.filter(role=Role.ADMIN, is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user__username")
        .first()
    )
    return membership.user if membership else None


def _apply_proposals(sections: list[Any], week: periods.Week) -> tuple[list[int], list[int]]:
    """Create an item per new finding; a finding still open is marked as seen again.
    Returns (new item ids, item ids seen again)."""
    new, again = [], []
    owner = _owner_for_items()
    for section in sections:
        for proposal in section.proposals:
            existing = ActionItem.objects.filter(key=proposal.key).exclude(status=ActionItem.Status.CLOSED).first()
            if existing is not None:
                again.append(existing.pk)
                continue
            item = ActionItem.objects.create(
                kind=proposal.kind,
                key=proposal.key,
                title=proposal.title,
                detail=proposal.detail,
                link=proposal.link,
                owner=owner,
                due_on=(week.start_day + timedelta(days=7 + proposal.due_in_days)),
            )
            new.append(item.pk)
    return new, again


def _item_document(item: ActionItem, new: list[int], again: list[int]) -> dict[str, Any]:
    return {
        "id": item.pk,
        "kind": item.kind,
        "title": item.title,
        "owner": item.owner.get_username() if item.owner else None,
        "due_on": item.due_on.isoformat(),
        "status": item.status,
        "since": item.opened_in.week_label if item.opened_in else None,
        "carried_over": item.pk not in new,
        "seen_again": item.pk in again,
        "link": item.link,
    }


def _read_rates(limit: int = TREND_WEEKS) -> list[dict[str, Any]]:
    from .selectors import read_rate_by_week

    return [
        {"week": r["week"], "sent": r["sent"], "read": r["read"], "rate": r["rate"]}
        for r in read_rate_by_week()[:limit]
    ][::-1]


def digest_document(tenant: Tenant, week: periods.Week, now: datetime) -> tuple[dict[str, Any], list[Any]]:
    tz = periods.zone(tenant.time_zone)
    previous = week.previous(tz)
    ctx = Context(tenant=tenant, week=week, previous=previous, trend=periods.weeks_back(week, tz, TREND_WEEKS))
    sections = collect_all(ctx, ORDER)
    doc = {
        "type": DOCUMENT_TYPE,
        "version": 1,
        "tenant": {"slug": tenant.slug, "name": tenant.name, "time_zone": tenant.time_zone},
        "week": {
            "label": week.label,
            "first_day": week.start_day.isoformat(),
            "last_day": (week.start_day + timedelta(days=6)).isoformat(),
            "start": week.start.isoformat(),
            "end": week.end.isoformat(),
        },
        "previous_week": {
            "label": previous.label,
            "start": previous.start.isoformat(),
            "end": previous.end.isoformat(),
        },
        "generated_at": now.isoformat(),
        "sections": [s.as_document() for s in sections],
        "read_rate": {"target": READ_TARGET, "weeks": _read_rates()},
    }
    return doc, sections


def digest_build(tenant: Tenant, *, now: datetime | None = None, week: periods.Week | None = None) -> Digest:
    """Build, sign (DSSE, the deployment's executor key) and log (PCQ transparency log) the
    digest of ``week`` (default: the last complete week at ``now``), create or carry over its
    action items and queue one e-mail per recipient. Idempotent: a week that already has a
    digest returns it unchanged."""
    now = now or timezone.now()
    tz = periods.zone(tenant.time_zone)
    week = week or periods.last_complete_week(now, tz)
    with tenant_context(tenant):
        existing = Digest.objects.filter(week_start=week.start_day).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                digest = _digest_create(tenant, week, now)
        except IntegrityError:
            # Another worker built the same week first.
            return Digest.objects.get(week_start=week.start_day)
    return digest


def _digest_create(tenant: Tenant, week: periods.Week, now: datetime) -> Digest:
    doc, sections = digest_document(tenant, week, now)
    new, again = _apply_proposals(sections, week)
    items = ActionItem.objects.exclude(status=ActionItem.Status.CLOSED).select_related("owner", "opened_in")
    # Closed since the last digest went out (or since the week began, for the first one).
    last = Digest.objects.filter(week_start__lt=week.start_day).order_by("-week_start").first()
    closed = ActionItem.objects.filter(
        status=ActionItem.Status.CLOSED, closed_at__gte=last.created_at if last else week.start
    ).select_related("owner", "opened_in")
    doc["action_items"] = {
        "open": [_item_document(i, new, again) for i in items.order_by("due_on", "id")],
        "closed_recently": [_item_document(i, new, again) for i in closed.order_by("closed_at", "id")],
    }
    payload = canonical(doc)
    key = signer(SIGNING_ROLE)
    envelope = signing.envelope(payload, [key], payload_type=PAYLOAD_TYPE)
    leaf_index = log_append(envelope_leaf(envelope))
    digest = Digest.objects.create(
        week_start=week.start_day,
        period_start=week.start,
        period_end=week.end,
        document_sha256=hashlib.sha256(payload).hexdigest(),
        envelope=envelope,
        key_id=key.key_id,
        leaf_index=leaf_index,
    )
    ActionItem.objects.filter(pk__in=new).update(opened_in=digest, last_seen_in=digest)
    ActionItem.objects.filter(pk__in=again).update(last_seen_in=digest)
    audit_record(
        "digest.signed",
        target=digest,
        payload={
            "week": week.label,
            "sha256": digest.document_sha256,
            "key_id": key.key_id,
            "leaf_index": leaf_index,
            "items_opened": len(new),
        },
    )
    digest_queue_deliveries(digest)
    return digest


def digests_due(now: datetime | None = None) -> dict[str, str]:
    """The beat's work: for every active tenant whose local clock has passed the send hour on
    the Monday ending a week without a digest, build it. Returns slug -> week built."""
    now = now or timezone.now()
    built = {}
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        try:
            tz = periods.zone(tenant.time_zone)
        except ValueError:
            continue
        week = periods.digest_due(now, tz, settings.TF_DIGEST_SEND_HOUR)
        if week is None:
            continue
        with tenant_context(tenant):
            if Digest.objects.filter(week_start=week.start_day).exists():
                continue
        try:
            built[tenant.slug] = digest_build(tenant, now=now, week=week).week_label
        except Exception:
            # One tenant's failure must not starve the others; the next hourly run retries it.
            logger.exception("digest build failed", extra={"tenant": tenant.slug, "week": week.label})
    return built


# --- Recipients and the outbox ----------------------------------------------------------------


def recipients() -> list[AbstractBaseUser]:
    """Active members with an e-mail address: admins unless they opted out, other digest
    readers if they opted in."""
    prefs = dict(DigestPreference.objects.values_list("user_id", "subscribed"))
    roles: dict[int, set[str]] = {}
    for user_id, role in Membership.objects.filter(is_active=True, user__is_active=True).values_list("user_id", "role"):
        roles.setdefault(user_id, set()).add(role)
    chosen = []
    for user_id, held in roles.items():
        if not held & DIGEST_READERS:
            continue
        if prefs.get(user_id, Role.ADMIN in held):
            chosen.append(user_id)
    return list(get_user_model().objects.filter(pk__in=chosen).exclude(email="").order_by("username"))


def digest_queue_deliveries(digest: Digest) -> int:
    """One outbox row per recipient (the unique key makes a second call a no-op), each sent
    by a task after commit."""
    from .tasks import deliver

    count = 0
    for user in recipients():
        delivery, created = DigestDelivery.objects.get_or_create(
            idempotency_key=f"digest:{digest.pk}:{user.pk}",
            defaults={"digest": digest, "recipient": user, "nonce": secrets.token_hex(16)},
        )
        if created:
            count += 1
            tenant_id, did = digest.tenant_id, delivery.pk
            transaction.on_commit(lambda t=tenant_id, d=did: deliver.delay(t, d))
    return count


CLAIM_TIMEOUT = timedelta(minutes=10)


def delivery_claim(delivery_id: int, now: datetime | None = None) -> bool:
    """Claim the row for one send (conditional UPDATE). A row stuck in "sending" longer than
    the claim timeout (a worker died mid-send) can be claimed again."""
    now = now or timezone.now()
    from django.db.models import F

    claimable = Q(status__in=[DigestDelivery.Status.PENDING, DigestDelivery.Status.FAILED]) | Q(
        status=DigestDelivery.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    )
    return bool(
        DigestDelivery.objects.filter(claimable, pk=delivery_id).update(
            status=DigestDelivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


# --- Reading, unsubscribing, preferences -------------------------------------------------------


def delivery_record_read(delivery: DigestDelivery, *, via: str) -> bool:
    """Record the first open of the signed link (``via="link"``) or of the tracking image
    (``via="image"``); they are counted separately. Returns True the first time."""
    field = "read_at" if via == "link" else "image_opened_at"
    with tenant_context(delivery.tenant), transaction.atomic():
        updated = DigestDelivery.objects.filter(pk=delivery.pk, **{f"{field}__isnull": True}).update(
            **{field: timezone.now()}
        )
        if updated and via == "link":
            audit_record(
                "digest.read",
                actor=delivery.recipient,
                target=delivery.digest,
                payload={"week": delivery.digest.week_label, "recipient": delivery.recipient.get_username()},
            )
    return bool(updated)


def preference_set(*, user: AbstractBaseUser, subscribed: bool, via: str = "web") -> DigestPreference:
    """Subscribe or unsubscribe ``user`` in the current tenant (audited)."""
    require_current_tenant()
    with transaction.atomic():
        pref, _ = DigestPreference.objects.update_or_create(
            user=user, defaults={"subscribed": subscribed, "updated_at": timezone.now()}
        )
        audit_record(
            "digest.subscribed" if subscribed else "digest.unsubscribed",
            actor=user,
            target=pref,
            payload={"via": via},
        )
    return pref


def unsubscribe(delivery: DigestDelivery, via: str) -> DigestPreference:
    with tenant_context(delivery.tenant):
        return preference_set(user=delivery.recipient, subscribed=False, via=via)


def tenant_time_zone_set(*, actor: AbstractBaseUser, name: str) -> Tenant:
    """Change the current tenant's time zone, which decides when its digest runs."""
    tenant = require_current_tenant()
    if not periods.is_time_zone(name):
        raise ValidationFailed("Pick a time zone from the list (IANA names).", details={"time_zone": "unknown"})
    with transaction.atomic():
        old = tenant.time_zone
        Tenant.objects.filter(pk=tenant.pk).update(time_zone=name)
        tenant.time_zone = name
        audit_record("tenant.time_zone_set", actor=actor, target=tenant, payload={"from": old, "to": name})
    return tenant


# --- Action items --------------------------------------------------------------------------


def action_item_update(
    *, item_id: int, actor: AbstractBaseUser, roles: frozenset[str], status: str, owner_id: int | None = None
) -> ActionItem:
    """Change an item's status (its owner or an admin) or owner (an admin). Closing records
    who and when; a closed item stays closed (a recurrence opens a new one)."""
    with transaction.atomic():
        item = ActionItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            raise NotFound("No such action item.", code="action_item_not_found")
        is_admin = bool(roles & ITEM_EDITORS)
        if not is_admin and item.owner_id != actor.pk:
            raise PermissionDenied("Only the item's owner or a tenant admin can change it.")
        if item.status == ActionItem.Status.CLOSED:
            raise ValidationFailed("This item is closed.", code="action_item_closed")
        if status not in ActionItem.Status.values:
            raise ValidationFailed("Unknown status.", details={"status": "unknown"})
        changes: dict[str, Any] = {}
        if owner_id is not None and owner_id != item.owner_id:
            if not is_admin:
                raise PermissionDenied("Only a tenant admin can reassign an item.")
            if not Membership.objects.filter(user_id=owner_id, is_active=True).exists():
                raise ValidationFailed("The owner must be a member of this tenant.", details={"owner": "not_member"})
            changes["owner"] = owner_id
            item.owner_id = owner_id
        if status != item.status:
            changes["status"] = status
            item.status = status
            if status == ActionItem.Status.CLOSED:
                item.closed_at, item.closed_by = timezone.now(), actor
        if changes:
            item.save()
            audit_record("digest.action_item_updated", actor=actor, target=item, payload={"changes": changes})
    return item
