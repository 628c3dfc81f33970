"""The People page (tenant admins): members with their roles, policy attributes (groups,
clearance) and groups; who may approve JIT access to each dataset. It edits Policy Studio's
subject attributes and the datasets' approver permission, so it lives here, above both
(``apps.core`` holds memberships and roles only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import ADMINS, TenantRoleRequiredMixin

from . import people


class SubjectAttributesForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.HiddenInput)
    groups = forms.CharField(
        max_length=500, required=False, help_text="Comma-separated, e.g. supervisors, duty-officers"
    )
    clearance = forms.IntegerField(min_value=0, max_value=10)

    def group_list(self) -> list[str]:
        return [g.strip() for g in self.cleaned_data.get("groups", "").split(",") if g.strip()]


class ApproverPermissionForm(forms.Form):
    dataset = forms.SlugField(max_length=64)
    username = forms.CharField(max_length=150, required=False)
    group = forms.CharField(max_length=63, required=False)
    granted = forms.TypedChoiceField(choices=[("1", "grant"), ("0", "withdraw")], coerce=lambda v: v == "1")


class GroupMemberForm(forms.Form):
    group = forms.CharField(max_length=63)
    username = forms.CharField(max_length=150)
    is_member = forms.TypedChoiceField(choices=[("1", "add"), ("0", "remove")], coerce=lambda v: v == "1")


class PeopleView(TenantRoleRequiredMixin, View):
    """Members with their roles, policy attributes and groups; who may approve JIT access to
    each dataset. Each form posts one audited change."""

    required_roles = ADMINS
    forms = {"attributes": SubjectAttributesForm, "approver": ApproverPermissionForm, "group": GroupMemberForm}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        kind = request.POST.get("form", "")
        form_class = self.forms.get(kind)
        if form_class is None:
            return self._render(request, error="Unknown form.", status=400)
        form = form_class(request.POST)
        if not form.is_valid():
            return self._render(request, error=_form_errors(form), status=400)
        d = form.cleaned_data
        try:
            if kind == "attributes":
                people.subject_attributes_set(
                    actor=request.user, username=d["username"], groups=form.group_list(), clearance=d["clearance"]
                )
            elif kind == "approver":
                people.approver_permission_set(
                    actor=request.user,
                    dataset_slug=d["dataset"],
                    username=d["username"],
                    group=d["group"],
                    granted=d["granted"],
                )
            else:
                people.tenant_group_member_set(
                    actor=request.user, group=d["group"], username=d["username"], is_member=d["is_member"]
                )
        except DomainError as exc:
            return self._render(request, error=exc.message, status=exc.status)
        messages.success(request, "Saved; the change is in the audit log.")
        return redirect("people")

    def _render(self, request: HttpRequest, error: str | None = None, status: int = 200) -> HttpResponse:
        return render(request, "core/people.html", {**people.people_overview(), "error": error}, status=status)


def _form_errors(form: Any) -> str:
    return "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
