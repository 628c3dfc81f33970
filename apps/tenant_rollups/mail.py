"""The digest e-mail: HTML + text, the charts as inline CID images, a signed per-recipient
"open the digest" link (the read tracker that works when images are blocked), the optional
tracking image, and one-click unsubscribe (RFC 2369 / RFC 8058 headers)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from email.mime.image import MIMEImage
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import present
from .charts import render_png
from .models import DigestDelivery
from .selectors import delivery_from_nonce

READ_SALT = "digest.read"
IMAGE_SALT = "digest.image"
UNSUBSCRIBE_SALT = "digest.unsubscribe"
LINK_MAX_AGE = timedelta(days=120)
UNSUBSCRIBE_MAX_AGE = timedelta(days=400)


def token_for(delivery: DigestDelivery, salt: str) -> str:
    return signing.dumps({"n": delivery.nonce}, salt=salt)


def delivery_from_token(token: str, salt: str) -> DigestDelivery | None:
    max_age = UNSUBSCRIBE_MAX_AGE if salt == UNSUBSCRIBE_SALT else LINK_MAX_AGE
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature:
        return None
    return delivery_from_nonce(str(data.get("n", "")))


def urls_for(delivery: DigestDelivery) -> dict[str, str]:
    site = settings.SITE_URL
    return {
        "read": site + reverse("digest-open", args=[token_for(delivery, READ_SALT)]),
        "unsubscribe": site + reverse("digest-unsubscribe", args=[token_for(delivery, UNSUBSCRIBE_SALT)]),
        "image": site + reverse("digest-image", args=[token_for(delivery, IMAGE_SALT)]),
        "archive": site + reverse("digest-detail", args=[delivery.digest.week_start.isoformat()]),
        "download": site + reverse("digest-download", args=[delivery.digest.week_start.isoformat()]),
        "items": site + reverse("digest-items"),
    }


def render_context(delivery: DigestDelivery, *, for_email: bool) -> dict[str, Any]:
    digest = delivery.digest
    doc = digest.document
    charts = [c for s in doc["sections"] for c in s.get("charts", [])]
    return {
        "doc": doc,
        "sections": present.sections(doc),
        "digest": digest,
        "recipient": delivery.recipient,
        "site_url": settings.SITE_URL,
        "urls": urls_for(delivery),
        "charts": [{"cid": f"chart-{c['key']}", **c} for c in charts],
        "for_email": for_email,
        "tracking_image": for_email and settings.TF_DIGEST_TRACKING_IMAGE,
    }


@lru_cache(maxsize=64)
def _chart_png(document_sha256: str, chart_json: str) -> bytes:
    """A digest's charts are the same for every recipient: draw each once per worker."""
    return render_png(json.loads(chart_json))


def build_message(delivery: DigestDelivery) -> EmailMultiAlternatives:
    context = render_context(delivery, for_email=True)
    doc = context["doc"]
    message = EmailMultiAlternatives(
        subject=f"[Trust Fabric] Weekly digest {doc['week']['label']} · {doc['tenant']['name']}",
        body=render_to_string("tenant_rollups/email/digest.txt", context),
        to=[delivery.recipient.email],
        headers={
            "X-TrustFabric-Notification": delivery.idempotency_key,
            "List-Unsubscribe": f"<{context['urls']['unsubscribe']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"Trust Fabric weekly digest <digest.{doc['tenant']['slug']}.trustfabric>",
        },
    )
    message.attach_alternative(render_to_string("tenant_rollups/email/digest.html", context), "text/html")
    # multipart/related: the HTML refers to each chart as cid:chart-<key>.
    message.mixed_subtype = "related"
    for chart in context["charts"]:
        png = _chart_png(delivery.digest.document_sha256, json.dumps(chart, sort_keys=True))
        image = MIMEImage(png, "png")
        image.add_header("Content-ID", f"<{chart['cid']}>")
        image.add_header("Content-Disposition", "inline", filename=f"{chart['cid']}.png")
        message.attach(image)
    return message


def deliver(delivery_id: int) -> str:
    """Send one claimed outbox row. Raises on failure (the task retries)."""
    from .services import delivery_claim

    if not delivery_claim(delivery_id):
        return DigestDelivery.objects.get(pk=delivery_id).status
    delivery = DigestDelivery.objects.select_related("digest", "recipient", "tenant").get(pk=delivery_id)
    started = time.perf_counter()
    try:
        build_message(delivery).send(fail_silently=False)
    except Exception as exc:
        DigestDelivery.objects.filter(pk=delivery_id).update(
            status=DigestDelivery.Status.FAILED, last_error=f"{type(exc).__name__}: {str(exc)[:300]}"
        )
        raise
    DigestDelivery.objects.filter(pk=delivery_id).update(
        status=DigestDelivery.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return f"sent in {(time.perf_counter() - started) * 1000:.0f} ms"
