from django.apps import AppConfig


class ZkProofsConfig(AppConfig):
    name = "apps.zk_proofs"
    label = "zk_proofs"
    verbose_name = "ZK-TX deconfliction"
