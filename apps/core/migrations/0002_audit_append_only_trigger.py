"""On PostgreSQL the database itself refuses UPDATE and DELETE on audit events, so even a
bug or a stray SQL session cannot rewrite history. (TRUNCATE is left to the database owner;
production runs the app as a role without TRUNCATE, see runbooks/audit-chain.md.)"""

from django.db import migrations

TABLE = "core_auditevent"

CREATE = f"""
CREATE OR REPLACE FUNCTION trustfabric_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION trustfabric_refuse_change();
"""

DROP = f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE};"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
