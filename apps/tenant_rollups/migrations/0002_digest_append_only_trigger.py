"""On PostgreSQL the database refuses UPDATE and DELETE on signed digests (the trigger
function of the audit chain, created in core/0002)."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE TRIGGER tenant_rollups_digest_append_only BEFORE UPDATE OR DELETE ON tenant_rollups_digest "
        "FOR EACH ROW EXECUTE FUNCTION trustfabric_refuse_change();",
        params=None,
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS tenant_rollups_digest_append_only ON tenant_rollups_digest;", params=None)


class Migration(migrations.Migration):
    dependencies = [("tenant_rollups", "0001_digests_outbox_action_items"), ("core", "0002_audit_append_only_trigger")]
    operations = [migrations.RunPython(forwards, backwards)]
