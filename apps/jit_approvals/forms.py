from __future__ import annotations

from typing import Any

from django import forms

from apps.graphs.models import DATA_CLASS_CHOICES

from . import limits


class AccessRequestForm(forms.Form):
    run = forms.IntegerField(required=False, widget=forms.HiddenInput)
    dataset = forms.SlugField(required=False, help_text="Not needed when requesting from a denied query.")
    data_classes = forms.MultipleChoiceField(
        choices=DATA_CLASS_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    purpose = forms.CharField(max_length=limits.PURPOSE_MAX, required=False)
    duration_minutes = forms.IntegerField(
        min_value=1, max_value=limits.DURATION_MAX_MINUTES, initial=60, label="Duration (minutes)"
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=limits.REASON_MIN,
        max_length=limits.REASON_MAX,
        help_text="Approvers read this; it is bound (hashed) into the grant.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("run") and not (data.get("dataset") and data.get("purpose")):
            raise forms.ValidationError("Request from a denied query, or name the dataset and the purpose.")
        return data


class SlackLinkForm(forms.Form):
    slack_user_id = forms.CharField(
        max_length=20,
        required=False,
        label="Slack member ID",
        help_text="In Slack: your profile → ⋮ → Copy member ID (starts with U).",
    )
    code = forms.CharField(max_length=6, required=False, label="Code from Slack")
