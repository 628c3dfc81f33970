from django import forms


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use this token, e.g. “zk-client on laptop”.")
    expires_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional. Leave empty for a token that lasts until revoked.",
    )


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
