from __future__ import annotations

from django.apps import AppConfig


class PolicyStudioConfig(AppConfig):
    name = "apps.policy_studio"
    label = "policy_studio"
    verbose_name = "Policy Studio (LAC)"
