from django.apps import AppConfig


class PilotsConfig(AppConfig):
    name = "apps.pilots"
    label = "pilots"
    verbose_name = "ZK-TX pilots"
    default_auto_field = "django.db.models.BigAutoField"
