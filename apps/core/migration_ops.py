"""Operations shared by migrations (kept stable: migrations import them)."""

from __future__ import annotations

from django.db import migrations


def append_only_trigger(*tables: str) -> migrations.RunPython:
    """On PostgreSQL, refuse UPDATE and DELETE on ``tables`` with the trigger function of
    core/0002 (``trustfabric_refuse_change``); trigger ``<table>_append_only``."""

    def forwards(apps: object, schema_editor: object) -> None:
        if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
            for table in tables:
                schema_editor.execute(  # type: ignore[attr-defined]
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION trustfabric_refuse_change();"
                )

    def backwards(apps: object, schema_editor: object) -> None:
        if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
            for table in tables:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")  # type: ignore[attr-defined]

    return migrations.RunPython(forwards, backwards)
