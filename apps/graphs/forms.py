from __future__ import annotations

from typing import Any

from django import forms

from .models import DATA_CLASS_CHOICES
from .services import UploadedFile


class UploadFilesForm(forms.Form):
    graph = forms.FileField(required=False, help_text="One JSON file, or the two CSV files below.")
    nodes = forms.FileField(required=False, help_text="CSV: id,type,<attr>:<P0..P3>,…")
    edges = forms.FileField(required=False, help_text="CSV: source,target,type,<attr>:<P0..P3>,…")

    def uploaded(self) -> dict[str, UploadedFile]:
        return files_from(self.cleaned_data)


class DatasetCreateForm(UploadFilesForm):
    slug = forms.SlugField(max_length=64)
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    license = forms.CharField(max_length=100, initial="internal")
    legal_authority = forms.CharField(max_length=100, initial="none")
    structure_class = forms.ChoiceField(choices=DATA_CLASS_CHOICES, initial="P2")

    field_order = [
        "slug",
        "name",
        "description",
        "license",
        "legal_authority",
        "structure_class",
        "graph",
        "nodes",
        "edges",
    ]


class ViewCreateForm(forms.Form):
    slug = forms.SlugField(max_length=64)
    name = forms.CharField(max_length=200)
    dataset = forms.SlugField()
    fields = forms.CharField(help_text="Comma-separated attribute names.", required=False)
    hops = forms.IntegerField(min_value=0, max_value=10, initial=1)
    edge_types = forms.CharField(required=False, help_text="Comma-separated edge types the view is limited to.")

    def clean_fields(self) -> list[str]:
        return [f.strip() for f in self.cleaned_data["fields"].split(",") if f.strip()]


def files_from(data: dict[str, Any]) -> dict[str, UploadedFile]:
    out = {}
    for key in ("graph", "nodes", "edges"):
        f = data.get(key)
        if f:
            out[key] = UploadedFile(f.name, f.read())
    return out
