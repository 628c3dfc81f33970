"""Studio pages around the editor: the diff between two versions of a policy, and the
template library ("start from template" saves a draft: version 1, not in force)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import TenantRoleRequiredMixin, has_role

from . import selectors, services
from .lac.diff import TextLine, diff_policies, text_diff
from .lac.lint import RULES
from .library import TEMPLATES, template
from .models import Policy
from .permissions import AUTHORS, POLICY_READERS


def _not_found(request: HttpRequest, message: str) -> HttpResponse:
    return render(
        request, "error.html", {"status": 404, "error": {"code": "not_found", "message": message}}, status=404
    )


class PolicyDiffView(TenantRoleRequiredMixin, View):
    """Rule-level and text diff between versions ``a`` and ``b`` (default: the latest and the
    one before it)."""

    required_roles = POLICY_READERS

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        policy = get_object_or_404(selectors.policies(), slug=slug)
        versions = list(selectors.policy_versions(policy))
        by_number = {v.number: v for v in versions}
        default_b = versions[0].number if versions else 0
        default_a = versions[1].number if len(versions) > 1 else default_b
        try:
            a = by_number[int(request.GET.get("a", default_a))]
            b = by_number[int(request.GET.get("b", default_b))]
        except (KeyError, TypeError, ValueError):
            return _not_found(request, "No such policy version.")
        diff = diff_policies(a.source, b.source)
        return render(
            request,
            "policy_studio/policy_diff.html",
            {
                "policy": policy,
                "versions": versions,
                "a": a,
                "b": b,
                "diff": diff,
                "changes": [c.as_dict() for c in diff.changes],
                "rows": _with_context(text_diff(a.source, b.source)),
            },
        )


def _with_context(rows: list[TextLine], context: int = 3) -> list[TextLine | int]:
    """The changed rows with ``context`` unchanged rows around each; a run of hidden unchanged
    rows becomes its length (the page shows "… n unchanged lines")."""
    changed = [i for i, r in enumerate(rows) if r.tag != "equal"]
    keep = {j for i in changed for j in range(i - context, i + context + 1)}
    out: list[TextLine | int] = []
    for i, row in enumerate(rows):
        if i in keep:
            out.append(row)
        elif out and isinstance(out[-1], int):
            out[-1] += 1
        else:
            out.append(1)
    return out


class TemplateLibraryView(TenantRoleRequiredMixin, View):
    required_roles = {"get": POLICY_READERS, "post": AUTHORS}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request)

    def _render(self, request: HttpRequest, status: int = 200, **extra: object) -> HttpResponse:
        return render(
            request,
            "policy_studio/templates.html",
            {"templates": TEMPLATES, "can_write": has_role(request, AUTHORS), **extra},
            status=status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        chosen = template(request.POST.get("template", ""))
        if chosen is None:
            return _not_found(request, "No such template.")
        slug = request.POST.get("slug", "").strip()
        name = request.POST.get("name", "").strip() or chosen.title
        if Policy.objects.filter(slug=slug).exists():
            return self._render(
                request, status=409, error=f"A policy “{slug}” exists already; choose another slug.", chosen=chosen.slug
            )
        try:
            version = services.policy_save_version(
                actor=request.user,
                slug=slug,
                name=name,
                source=chosen.source,
                note=f"Started from template {chosen.slug}",
            )
        except DomainError as exc:
            return self._render(request, status=exc.status, error=exc.message, chosen=chosen.slug)
        messages.success(
            request, f"Draft “{version.policy.slug}” created from the {chosen.title} template (not in force)."
        )
        return redirect("policy-edit", slug=version.policy.slug)


@cache
def _lint_sections() -> list[dict[str, object]]:
    """docs/lac-lint.md split into one section per rule id: paragraphs and YAML examples."""
    text = (Path(settings.BASE_DIR) / "docs" / "lac-lint.md").read_text()
    sections = []
    for chunk in re.split(r"^## ", text, flags=re.M)[1:]:
        code, _, body = chunk.partition("\n")
        parts = re.split(r"```yaml\n(.*?)```", body, flags=re.S)
        blocks = [
            {"kind": "code" if i % 2 else "text", "text": " ".join(p.split()) if i % 2 == 0 else p}
            for i, p in enumerate(parts)
            if p.strip()
        ]
        severity, title = RULES.get(code.strip(), ("", ""))
        sections.append({"code": code.strip(), "title": title, "severity": severity, "blocks": blocks})
    return sections


class LintRulesView(TenantRoleRequiredMixin, View):
    """The lint rules the editor applies, from docs/lac-lint.md (one anchor per id)."""

    required_roles = POLICY_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "policy_studio/lint_rules.html", {"sections": _lint_sections()})
