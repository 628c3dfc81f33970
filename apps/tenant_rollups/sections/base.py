"""Section providers.

A provider turns one tenant-week into one section of the digest document: metrics (this
week against the previous one, each with the site-relative link of the page that backs it),
optional charts (one spec, drawn by matplotlib for the e-mail and by Chart.js on the archive
page) and, from what it found, action-item proposals.

A data source that does not exist yet has a placeholder provider that answers
``status: "not_recorded"``; the app that builds the source registers a real provider under
the same key and the placeholder is replaced. The digest never invents a number: a value
with no data is ``None`` and is shown as "—".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from django.urls import reverse

from apps.core.models import Tenant

from ..periods import Week


@dataclass(frozen=True)
class Context:
    tenant: Tenant
    week: Week
    previous: Week
    trend: list[Week]  # the last weeks, oldest first, ending with ``week``

    def link(self, url_name: str, *args: Any, **query: Any) -> str:
        """A site-relative link; datetimes in the query become ISO 8601."""
        path = reverse(url_name, args=args)
        clean = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in query.items() if v is not None}
        return f"{path}?{urlencode(clean)}" if clean else path


@dataclass(frozen=True)
class Proposal:
    """An action item a provider proposes. ``key`` names the finding (stable across weeks)."""

    kind: str
    key: str
    title: str
    detail: str = ""
    link: str = ""
    due_in_days: int = 7


@dataclass
class Section:
    key: str
    title: str
    status: str = "recorded"  # or "not_recorded"
    note: str = ""
    metrics: list[dict[str, Any]] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)

    def metric(
        self, key: str, label: str, value: float | int | None, previous: float | int | None, link: str, group: str = ""
    ) -> None:
        self.metrics.append(
            {"key": key, "label": label, "group": group, "value": value, "previous": previous, "link": link}
        )

    def as_document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "title": self.title, "status": self.status}
        if self.note:
            out["note"] = self.note
        if self.status == "recorded":
            out["metrics"] = self.metrics
            out["charts"] = self.charts
        return out


class SectionProvider(Protocol):
    key: str
    title: str

    def collect(self, ctx: Context) -> Section: ...


REGISTRY: dict[str, SectionProvider] = {}


def register(provider: SectionProvider) -> SectionProvider:
    """Add or replace the provider for ``provider.key`` (a real source replaces its placeholder)."""
    REGISTRY[provider.key] = provider
    return provider


@dataclass(frozen=True)
class NotRecorded:
    """Placeholder for a source another capability is building."""

    key: str
    title: str
    what: str

    def collect(self, ctx: Context) -> Section:
        return Section(self.key, self.title, status="not_recorded", note=f"Not recorded yet: {self.what}.")


def collect_all(ctx: Context, order: list[str] | None = None) -> list[Section]:
    keys = order or list(REGISTRY)
    return [REGISTRY[k].collect(ctx) for k in keys if k in REGISTRY]


def bar_chart(key: str, title: str, labels: list[str], this: list[float], previous: list[float]) -> dict[str, Any]:
    return {
        "key": key,
        "title": title,
        "kind": "bar",
        "labels": labels,
        "series": [{"name": "previous week", "values": previous}, {"name": "this week", "values": this}],
    }


def line_chart(key: str, title: str, labels: list[str], series: dict[str, list[float | None]]) -> dict[str, Any]:
    return {
        "key": key,
        "title": title,
        "kind": "line",
        "labels": labels,
        "series": [{"name": name, "values": values} for name, values in series.items()],
    }
