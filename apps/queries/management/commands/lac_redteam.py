from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.queries.redteam import DEFAULT_CORPUS, run_corpus


class Command(BaseCommand):
    help = "Run the LAC red-team corpus through the real pipeline (nothing is kept) and score it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args: Any, corpus: str, json: bool = False, **options: Any) -> None:
        report = run_corpus(Path(corpus))
        summary = report.summary()
        if json:
            self.stdout.write(_dumps(summary))
        else:
            for o in report.outcomes:
                if o.verdict != "pass":
                    note = f" ({o.note})" if o.note else ""
                    self.stdout.write(f"{o.verdict.upper():<15} {o.id:<32} got {o.got} {o.codes}{note}")
            self.stdout.write(f"{'class':<24}{'attacks':>8}{'FN':>5}{'benign':>8}{'FP':>5}{'FP rate':>9}")
            for cls, row in summary["classes"].items():
                self.stdout.write(
                    f"{cls:<24}{row['attacks']:>8}{row['false_negatives']:>5}{row['benign']:>8}"
                    f"{row['false_positives']:>5}{row['false_positive_rate']:>9.1%}"
                )
            self.stdout.write(
                f"{summary['cases']} cases ({summary['attacks']} attacks, {summary['benign']} benign): "
                f"{summary['false_negatives']} false negatives, {summary['false_positives']} false positives "
                f"({summary['false_positive_rate']:.1%}), {summary['reason_code_mismatches']} reason-code mismatches, "
                f"{summary['seconds']} s"
            )
        if not report.passed:
            raise CommandError("The red-team corpus failed: false negatives, or false positives above 2% in a class.")


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2)
