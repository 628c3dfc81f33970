"""Reads for digests, already scoped to the current tenant."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from .models import ActionItem, Digest, DigestDelivery


def digests() -> QuerySet[Digest]:
    return Digest.objects.order_by("-week_start")


def digest_for_week(week_start: Any) -> Digest | None:
    return digests().filter(week_start=week_start).first()


def read_rate_by_week() -> list[dict[str, Any]]:
    """Per digest, newest first: e-mails sent, read through the signed link, loaded the
    tracking image (counted separately, never added to reads), and the read rate."""
    rows = digests().annotate(
        sent=Count("deliveries", filter=Q(deliveries__status=DigestDelivery.Status.SENT)),
        read=Count("deliveries", filter=Q(deliveries__read_at__isnull=False)),
        image=Count("deliveries", filter=Q(deliveries__image_opened_at__isnull=False)),
    )
    return [
        {
            "digest": d,
            "week": d.week_label,
            "sent": d.sent,
            "read": d.read,
            "image_opens": d.image,
            "rate": round(d.read / d.sent, 4) if d.sent else None,
        }
        for d in rows
    ]


def deliveries_for(digest: Digest) -> QuerySet[DigestDelivery]:
    return DigestDelivery.objects.filter(digest=digest).select_related("recipient").order_by("recipient__username")


def action_items(status: str | None = None) -> QuerySet[ActionItem]:
    qs = ActionItem.objects.select_related("owner", "opened_in", "last_seen_in", "closed_by")
    if status == "open":
        qs = qs.exclude(status=ActionItem.Status.CLOSED)
    elif status:
        qs = qs.filter(status=status)
    return qs.order_by("status", "due_on", "id")


def delivery_from_nonce(nonce: str) -> DigestDelivery | None:
    """The delivery a signed link names, across tenants (the signed token is the credential)."""
    return (
        DigestDelivery.all_tenants.select_related("tenant", "digest", "recipient").filter(nonce=nonce).first()
        if nonce
        else None
    )


def digest_file(digest: Digest) -> dict[str, Any]:
    """The downloadable form: the envelope, its inclusion proof under the newest signed
    checkpoint, the checkpoint and the deployment's public keys (for reference; verifiers
    pin their own copy with ``--keys``)."""
    from apps.core.keys import public_keys
    from apps.provenance import services as provenance

    cp = provenance.latest_checkpoint()
    size = cp.size if cp else 0
    return {
        "envelope": digest.envelope,
        "log": {
            "leaf_index": digest.leaf_index,
            "tree_size": size,
            "hashes": provenance.inclusion_proof(digest.leaf_index, size) if digest.leaf_index < size else [],
        },
        "checkpoint": cp.note if cp else "",
        "keys": public_keys(),
    }


def digest_verification(digest: Digest) -> dict[str, Any]:
    """The offline verifier's report on the stored digest, against this deployment's keys."""
    import json

    from apps.core.keys import public_keys

    from .offline import verify_digest_file

    return verify_digest_file(json.dumps(digest_file(digest)).encode(), public_keys())
