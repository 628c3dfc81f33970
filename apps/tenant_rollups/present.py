"""Turn a digest document into what the e-mail and the pages show: metrics grouped under
their headings with the change against the previous week. Pure: no Django."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def change(value: Any, previous: Any) -> str:
    if value is None or previous is None:
        return ""
    delta = value - previous
    if delta == 0:
        return "±0"
    sign = "+" if delta > 0 else "−"
    return f"{sign}{_fmt(abs(delta))}"


def sections(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for section in doc.get("sections", []):
        groups: list[dict[str, Any]] = []
        for m in section.get("metrics", []):
            if not groups or groups[-1]["title"] != m.get("group", ""):
                groups.append({"title": m.get("group", ""), "rows": []})
            groups[-1]["rows"].append(
                {
                    **m,
                    "value_text": _fmt(m["value"]),
                    "previous_text": _fmt(m["previous"]),
                    "change": change(m["value"], m["previous"]),
                }
            )
        out.append({**section, "groups": groups})
    return out


def read_rate_text(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"
