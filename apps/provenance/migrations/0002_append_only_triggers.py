"""On PostgreSQL the database refuses UPDATE and DELETE on the append-only PCQ tables
(the same trigger function as the audit chain, created in core/0002)."""

from django.db import migrations

TABLES = [
    "provenance_manifest",
    "provenance_witnessedentry",
    "provenance_logleaf",
    "provenance_lognode",
    "provenance_logcheckpoint",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION trustfabric_refuse_change();",
            params=None,
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)


class Migration(migrations.Migration):
    dependencies = [("provenance", "0001_initial"), ("core", "0002_audit_append_only_trigger")]
    operations = [migrations.RunPython(forwards, backwards)]
