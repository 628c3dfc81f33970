from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def problem_lines(details: Any) -> list[tuple[str, str]]:
    """An error's details as (field, sentence) lines for a page. A bare code string ("not_found")
    repeats the error's own sentence and is left out; lists are joined, never split into
    letters; nested details are flattened with dotted names."""
    lines: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, (list, tuple)):
            texts = [str(v) for v in value if not isinstance(v, (dict, list, tuple))]
            if texts:
                lines.append((prefix, "; ".join(texts)))
            for v in value:
                if isinstance(v, (dict, list, tuple)):
                    walk(prefix, v)
        elif isinstance(value, str) and " " in value.strip():
            lines.append((prefix, value))

    if isinstance(details, dict):
        walk("", details)
    return lines
