from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.provenance.attest import COMPONENTS, measurement, reference_values, write_reference_values


class Command(BaseCommand):
    help = "CI preflight: fail when the verifier's or witness's measured code differs from the reference values."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--update",
            action="store_true",
            help="Write the current measurements as the new reference values (a release step; review the diff).",
        )

    def handle(self, *args: Any, update: bool = False, **options: Any) -> None:
        if update:
            for component, value in write_reference_values().items():
                self.stdout.write(f"{component}: reference set to {value}")
            return
        reference = reference_values()
        failed = []
        for component in COMPONENTS:
            measured = measurement(component)
            expected = reference.get(component)
            ok = measured == expected
            self.stdout.write(
                f"{'ok  ' if ok else 'FAIL'} {component} (sim): measured {measured[:16]}… reference {(expected or 'none')[:16]}…"
            )
            if not ok:
                failed.append(component)
        if failed:
            raise CommandError(
                f"Measured code differs from the reference values for: {', '.join(failed)}. "
                "If the change is intended, run `manage.py attest_preflight --update` and commit the new reference values."
            )
