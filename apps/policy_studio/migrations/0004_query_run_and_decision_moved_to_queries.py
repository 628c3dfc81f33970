from django.db import migrations


class Migration(migrations.Migration):
    """QueryRun and Decision now belong to apps.queries; their tables stay (state only)."""

    dependencies = [
        ('policy_studio', '0003_query_run_exposure_and_failed_status'),
        ('queries', '0001_query_run_and_decision_from_policy_studio'),
        ('provenance', '0008_manifest_query_run_in_queries'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='Decision'),
                migrations.DeleteModel(name='QueryRun'),
            ],
            database_operations=[],
        ),
    ]
