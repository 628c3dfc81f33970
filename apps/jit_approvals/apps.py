from django.apps import AppConfig


class JitApprovalsConfig(AppConfig):
    name = "apps.jit_approvals"
    label = "jit_approvals"
    verbose_name = "JIT approvals"
