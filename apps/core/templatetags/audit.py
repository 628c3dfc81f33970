from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from apps.core.audit_targets import describe

register = template.Library()


@register.simple_tag
def audit_target(event: Any) -> str:
    """An event's target as a human name, linked to its page when it has one."""
    label, url = describe(event.target_type, event.target_id)
    if url:
        return format_html('<a href="{}" data-audit-target="{}">{}</a>', url, event.target_type, label)
    return format_html('<span data-audit-target="{}">{}</span>', event.target_type, label)
