"""Digest pages: the archive (every week, read rate against the target), one week with its
interactive charts and download, action items, preferences; and the three no-login
endpoints a recipient reaches from the e-mail (signed per-recipient tokens)."""

from __future__ import annotations

import base64
import json
from datetime import date

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import DomainError, PermissionDenied
from apps.core.models import Membership, Role
from apps.core.permissions import ANY_MEMBER, PUBLIC, TenantRoleRequiredMixin, has_role

from . import mail, present, selectors, services
from .models import ActionItem, Digest, DigestPreference

# 1×1 transparent PNG.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


def _digest_or_404(week: str) -> Digest:
    try:
        day = date.fromisoformat(week)
    except ValueError as exc:
        raise Http404("No such week.") from exc
    digest = selectors.digest_for_week(day)
    if digest is None:
        raise Http404("No digest for that week.")
    return digest


class ArchiveView(TenantRoleRequiredMixin, View):
    required_roles = services.DIGEST_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = selectors.read_rate_by_week()
        for row in rows:
            row["rate_text"] = present.read_rate_text(row["rate"])
            row["meets_target"] = row["rate"] is not None and row["rate"] >= services.READ_TARGET
        chart = {
            "key": "read_rate",
            "title": "Read rate (signed link) against the 95% target",
            "kind": "line",
            "percent": True,
            "labels": [r["week"] for r in rows][::-1],
            "series": [
                {"name": "read rate", "values": [r["rate"] for r in rows][::-1]},
                {"name": "target", "values": [services.READ_TARGET for _ in rows]},
            ],
        }
        return render(
            request,
            "tenant_rollups/archive.html",
            {
                "rows": rows,
                "charts": [chart] if rows else [],
                "target": services.READ_TARGET,
                "open_items": selectors.action_items("open").count(),
            },
        )


class DigestDetailView(TenantRoleRequiredMixin, View):
    required_roles = services.DIGEST_READERS

    def get(self, request: HttpRequest, week: str) -> HttpResponse:
        digest = _digest_or_404(week)
        doc = digest.document
        stats = next((r for r in selectors.read_rate_by_week() if r["digest"].pk == digest.pk), None)
        return render(
            request,
            "tenant_rollups/detail.html",
            {
                "digest": digest,
                "doc": doc,
                "sections": present.sections(doc),
                "charts": [c for s in doc["sections"] for c in s.get("charts", [])],
                "stats": stats,
                "verification": selectors.digest_verification(digest),
                "rate_text": present.read_rate_text(stats["rate"]) if stats else "—",
                "deliveries": selectors.deliveries_for(digest) if has_role(request, {Role.ADMIN}) else None,
            },
        )


class DigestDownloadView(TenantRoleRequiredMixin, View):
    """The signed document with its inclusion proof under the newest signed checkpoint:
    everything ``python -m apps.tenant_rollups.offline verify-digest`` needs."""

    required_roles = services.DIGEST_READERS

    def get(self, request: HttpRequest, week: str) -> HttpResponse:
        digest = _digest_or_404(week)
        body = selectors.digest_file(digest)
        response = HttpResponse(json.dumps(body, indent=2), content_type="application/json")
        name = f"digest-{request.tenant.slug}-{digest.week_label}.dsse.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class ActionItemListView(TenantRoleRequiredMixin, View):
    required_roles = services.DIGEST_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        status = request.GET.get("status", "open")
        if status not in ("open", "all", *ActionItem.Status.values):
            status = "open"
        members = (
            Membership.objects.filter(is_active=True, user__is_active=True)
            .select_related("user")
            .order_by("user__username")
            .distinct()
        )
        users = {m.user_id: m.user for m in members}
        return render(
            request,
            "tenant_rollups/items.html",
            {
                "items": selectors.action_items(None if status == "all" else status),
                "status": status,
                "statuses": ActionItem.Status.choices,
                "members": list(users.values()),
                "is_admin": has_role(request, services.ITEM_EDITORS),
            },
        )


class ActionItemUpdateView(TenantRoleRequiredMixin, View):
    # Owners and admins change items (checked in the service); the auditor role stays read-only.
    required_roles = services.DIGEST_READERS - {Role.AUDITOR}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        owner = request.POST.get("owner") or None
        try:
            services.action_item_update(
                item_id=pk,
                actor=request.user,
                roles=request.tenant_roles,
                status=request.POST.get("status", ""),
                owner_id=int(owner) if owner and owner.isdigit() else None,
            )
        except DomainError as exc:
            if exc.status == 404:
                raise Http404(exc.message) from exc
            messages.error(request, exc.message)
            return redirect("digest-items")
        messages.success(request, "Action item updated.")
        return redirect("digest-items")


class PreferencesView(TenantRoleRequiredMixin, View):
    # Every member may open it; what they may change is checked per field below.
    required_roles = ANY_MEMBER

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request)

    def _render(self, request: HttpRequest, status: int = 200) -> HttpResponse:
        from zoneinfo import available_timezones

        pref = DigestPreference.objects.filter(user=request.user).first()
        can_read = has_role(request, services.DIGEST_READERS)
        default = has_role(request, {Role.ADMIN})
        return render(
            request,
            "tenant_rollups/preferences.html",
            {
                "can_read": can_read,
                "subscribed": can_read and (pref.subscribed if pref else default),
                "explicit": pref is not None,
                "is_admin": default,
                "time_zones": sorted(available_timezones()) if default else [],
            },
            status=status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            if "time_zone" in request.POST:
                if not has_role(request, {Role.ADMIN}):
                    raise PermissionDenied("Only a tenant admin can change the time zone.")
                services.tenant_time_zone_set(actor=request.user, name=request.POST["time_zone"])
                messages.success(request, "Time zone saved.")
            else:
                if not has_role(request, services.DIGEST_READERS):
                    raise PermissionDenied("Your roles do not include reading digests.")
                subscribed = request.POST.get("subscribed") == "on"
                services.preference_set(user=request.user, subscribed=subscribed)
                messages.success(request, "Subscribed to the weekly digest." if subscribed else "Unsubscribed.")
        except DomainError as exc:
            messages.error(request, exc.message)
            return self._render(request, status=exc.status)
        return redirect("digest-preferences")


# --- Reached from the e-mail, without signing in: the signed token is the credential ------


class OpenDigestView(View):
    """The "open the digest" link: records the read (first time) and shows the digest."""

    required_roles = PUBLIC  # the signed per-recipient token is the credential

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        delivery = mail.delivery_from_token(token, mail.READ_SALT)
        if delivery is None:
            return render(request, "tenant_rollups/link_problem.html", status=404)
        services.delivery_record_read(delivery, via="link")
        context = mail.render_context(delivery, for_email=False)
        return render(request, "tenant_rollups/web_view.html", context)


class TrackingImageView(View):
    required_roles = PUBLIC

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        delivery = mail.delivery_from_token(token, mail.IMAGE_SALT)
        if delivery is not None:
            services.delivery_record_read(delivery, via="image")
        response = HttpResponse(PIXEL, content_type="image/png")
        response["Cache-Control"] = "no-store"
        return response


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """GET shows a confirm page (mail scanners prefetch links); POST unsubscribes. The POST
    is CSRF-exempt because RFC 8058 one-click unsubscribe comes from the mail provider,
    without cookies; the signed per-recipient token is what authorises it."""

    required_roles = PUBLIC

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        delivery = mail.delivery_from_token(token, mail.UNSUBSCRIBE_SALT)
        status = 200 if delivery else 404
        return render(request, "tenant_rollups/unsubscribe.html", {"delivery": delivery, "token": token}, status=status)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        delivery = mail.delivery_from_token(token, mail.UNSUBSCRIBE_SALT)
        if delivery is None:
            return render(request, "tenant_rollups/unsubscribe.html", {"delivery": None}, status=404)
        services.unsubscribe(delivery, via="one-click" if "List-Unsubscribe" in request.POST else "link")
        return render(request, "tenant_rollups/unsubscribe.html", {"delivery": delivery, "done": True})
