"""How the audit pages name an event's target: a human name ("Access request #4") and, when
the target has a page, a link to it. Apps register their models in ``AppConfig.ready`` (core
cannot import them); an unregistered type still shows, as its name and id."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class TargetKind:
    name: str  # "Access request"
    url_name: str | None = None  # a URL taking the target id as its only argument


_kinds: dict[str, TargetKind] = {}


def register_audit_target(target_type: str, name: str, url_name: str | None = None) -> None:
    _kinds[target_type] = TargetKind(name, url_name)


def describe(target_type: str, target_id: str) -> tuple[str, str | None]:
    """(label, url or None) for an event's target."""
    kind = _kinds.get(target_type)
    if kind is None:
        label = target_type.split(".")[-1] if target_type else ""
        return (f"{label} {target_id}".strip(), None)
    label = f"{kind.name} #{target_id}" if target_id else kind.name
    if kind.url_name and target_id and str(target_id).isdigit():
        try:
            return label, reverse(kind.url_name, args=[int(target_id)])
        except NoReverseMatch:
            return label, None
    return label, None
