from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.crypto import merkle
from apps.provenance.models import LogLeaf
from apps.tenant_rollups.models import Digest
from apps.tenant_rollups.offline import envelope_leaf
from apps.tenant_rollups.selectors import digest_file


class Command(BaseCommand):
    help = (
        "Check every stored digest against the transparency log: its leaf is the envelope's, "
        "the signature verifies with this deployment's key, and it is included under the newest checkpoint."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        import json

        from apps.core.keys import public_keys
        from apps.tenant_rollups.offline import verify_digest_file

        leaves = dict(LogLeaf.objects.values_list("index", "leaf_hash"))
        problems = []
        digests = Digest.all_tenants.select_related("tenant").order_by("leaf_index")
        for digest in digests:
            name = f"{digest.tenant.slug} {digest.week_label} (leaf {digest.leaf_index})"
            if leaves.get(digest.leaf_index) != merkle.leaf_hash(envelope_leaf(digest.envelope)).hex():
                problems.append(f"{name}: the log leaf is not this envelope's")
                continue
            report = verify_digest_file(json.dumps(digest_file(digest)).encode(), public_keys())
            problems += [f"{name}: {c['check']}: {c['message']}" for c in report["checks"] if not c["ok"]]
        for p in problems:
            self.stdout.write(f"FAIL {p}")
        if problems:
            raise CommandError(f"{len(problems)} digest problem(s).")
        self.stdout.write(f"ok   {digests.count()} digests are signed and in the log")
