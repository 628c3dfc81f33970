import hashlib

from django.conf import settings
from django.db import migrations


def forwards(apps, schema_editor):
    """Every policy's active version becomes what prod should run (kind ``migration``)."""
    Policy = apps.get_model("policy_studio", "Policy")
    Deployment = apps.get_model("policy_studio", "Deployment")
    prod = list(settings.TF_STUDIO_ENVIRONMENTS)[-1]
    rows = [
        Deployment(
            tenant_id=p.tenant_id,
            policy_id=p.pk,
            environment=prod,
            version_id=p.active_version_id,
            digest=hashlib.sha256(p.active_version.source.encode()).hexdigest(),
            kind="migration",
        )
        for p in Policy._base_manager.exclude(active_version=None).select_related("active_version")
    ]
    Deployment._base_manager.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [("policy_studio", "0005_lifecycle")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
