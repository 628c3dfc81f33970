from django.apps import AppConfig


class ZkProofsConfig(AppConfig):
    name = "apps.zk_proofs"
    label = "zk_proofs"
    verbose_name = "ZK-TX deconfliction"

    def ready(self) -> None:
        from apps.core.probes import register_readiness_detail

        from .admission import state

        # Details, not readiness: an open ZK-TX breaker still serves L0 checks and reads.
        register_readiness_detail("zk_admission", state)
