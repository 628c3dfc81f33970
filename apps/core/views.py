"""HTML pages for tenancy and audit, operator probes, and error handlers."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from . import selectors, services, tasks
from .api.errors import error_body
from .errors import DomainError
from .filters import AuditEventFilterSet
from .forms import ApiTokenForm
from .http import page_problem_after_switch, safe_next_url
from .models import Role
from .permissions import ANY_MEMBER, AUDIT_READERS, PUBLIC, SIGNED_IN, TenantRoleRequiredMixin, declare_roles
from .probes import readiness_details


class LoginView(auth_views.LoginView):
    required_roles = PUBLIC
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class HomeView(TenantRoleRequiredMixin, TemplateView):
    required_roles = ANY_MEMBER
    template_name = "core/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        members = selectors.tenant_members()
        ctx["members"] = members
        ctx["member_count"] = len({m.user_id for m in members})
        ctx["recent_events"] = selectors.audit_events()[:10] if self.request.tenant_roles & AUDIT_READERS else None
        ctx["chain_check"] = selectors.latest_chain_check()
        ctx["my_roles"] = [Role(r).label for r in sorted(self.request.tenant_roles) if r in Role.values]
        return ctx


@login_required
@require_POST
@declare_roles(SIGNED_IN)
def tenant_switch(request: HttpRequest) -> HttpResponse:
    tenant = services.tenant_switch(user=request.user, session=request.session, slug=request.POST.get("tenant", ""))
    target = safe_next_url(request, request.POST.get("next"), "home")
    roles = selectors.tenant_access_for_user(request.user).get(tenant, frozenset())
    problem = page_problem_after_switch(target, roles)
    if problem:
        messages.info(request, f"Now working in {tenant.name}. {problem} Here is its overview.")
        return redirect("home")
    messages.success(request, f"Now working in {tenant.name}.")
    return redirect(target)


class AuditEventListView(TenantRoleRequiredMixin, View):
    required_roles = AUDIT_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = AuditEventFilterSet(request.GET, queryset=selectors.audit_events())
        page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return render(
            request,
            "core/audit_list.html",
            {
                "filter": filterset,
                "page": page,
                "query": query.urlencode(),
                "chain_check": selectors.latest_chain_check(),
            },
        )


class AuditEventDetailView(TenantRoleRequiredMixin, View):
    required_roles = AUDIT_READERS

    def get(self, request: HttpRequest, seq: int) -> HttpResponse:
        event = get_object_or_404(selectors.audit_events(), seq=seq)
        trail = selectors.audit_trail_for(event.target_type, event.target_id) if event.target_id else []
        return render(request, "core/audit_detail.html", {"event": event, "trail": trail})


class AuditChainVerifyView(TenantRoleRequiredMixin, View):
    required_roles = AUDIT_READERS

    def post(self, request: HttpRequest) -> HttpResponse:
        tenant_id = request.tenant.pk
        transaction.on_commit(lambda: tasks.audit_chain_verify.delay(tenant_id))
        messages.info(request, "The audit chain walk has been queued; its result shows here when it finishes.")
        return redirect("audit-list")


class ApiTokenListView(TenantRoleRequiredMixin, View):
    required_roles = ANY_MEMBER  # your own tokens only

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ApiTokenForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiTokenForm(request.POST)
        plaintext = None
        if form.is_valid():
            try:
                _, plaintext = services.api_token_create(user=request.user, **form.cleaned_data)
                form = ApiTokenForm()
            except DomainError as exc:
                form.add_error(None, exc.message)
        return self._render(request, form, plaintext=plaintext, status=200 if plaintext else 400)

    def _render(
        self, request: HttpRequest, form: ApiTokenForm, plaintext: str | None = None, status: int = 200
    ) -> HttpResponse:
        tokens = selectors.api_tokens_for(request.user)
        return render(
            request, "core/tokens.html", {"form": form, "tokens": tokens, "new_token": plaintext}, status=status
        )


class ApiTokenRevokeView(TenantRoleRequiredMixin, View):
    required_roles = ANY_MEMBER  # your own tokens only (the lookup is scoped to you)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = get_object_or_404(selectors.api_tokens_for(request.user), pk=pk)
        services.api_token_revoke(token=token, actor=request.user)
        messages.success(request, f"Token “{token.name}” revoked.")
        return redirect("tokens")


# --- Operator probes -------------------------------------------------------------------


@never_cache
@declare_roles(PUBLIC)
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving. No dependencies are touched."""
    return JsonResponse({"status": "ok"})


@never_cache
@declare_roles(PUBLIC)
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers, the cache round-trips a value (throttling,
    sign-in lockout and Slack replay protection live there) and the Celery broker is reachable."""
    from django.conf import settings

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    checks["cache"] = _cache_check()
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_BROKER_URL:
        checks["broker"] = "eager (no broker configured)"
    else:
        from kombu import Connection

        try:
            with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["broker"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" or v.startswith("eager") for v in checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "not_ready", "checks": checks}
    body["details"] = readiness_details()  # details, not readiness (e.g. an open ZK-TX breaker)
    return JsonResponse(body, status=200 if ready else 503)


def _cache_check() -> str:
    import uuid

    from django.core.cache import cache

    key, value = f"readyz:{uuid.uuid4().hex}", uuid.uuid4().hex
    try:
        cache.set(key, value, timeout=10)
        seen = cache.get(key)
        cache.delete(key)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"error: {type(exc).__name__}"
    return "ok" if seen == value else "error: value not read back"


# --- Error handlers: JSON envelope under /api/, pages elsewhere -------------------------


def _error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message), status=status)
    return render(request, "error.html", {"error": error_body(code, message), "status": status}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, "bad_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "permission_denied", "You do not have permission to do this.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "not_found", "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(request, 500, "server_error", "Something went wrong on our side; it has been logged.")
