"""Selector normalisation vectors: each miss here would be a silent false "overlap ≤ k"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.zk_proofs.normalise import normalise, prepare

VECTORS = json.loads((Path(__file__).parent / "vectors" / "normalisation.json").read_text())
CASES = [(kind, case) for kind, cases in VECTORS.items() for case in cases]


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[f"{k}:{c['in']}" for k, c in CASES])
def test_normalisation_vectors(kind: str, case: dict) -> None:
    out, rules = normalise(case["in"], kind, case.get("region"))
    assert out == case["out"], rules
    if "rule" in case:
        assert rules[-1] == case["rule"]


def test_spellings_of_one_selector_become_one_and_the_report_counts_each_rule() -> None:
    values, report = prepare(
        ["+44 (0)7700 900123", "07700 900123", "+447700900123", "0044 7700 900123", "", "+1 (415) 555-2671"],
        "phone",
        "GB",
    )
    assert values == ["+447700900123", "+14155552671"]
    assert report["duplicate_removed"] == 3 and report["accepted"] == 2 and report["skipped_blank_line"] == 1
    assert report["national_read_in_GB"] == 1 and report["trunk_prefix_0_dropped"] == 1
    _, no_region = prepare(["07700 900123", "+447700900123"], "phone", None)
    assert no_region["refused_national_without_region"] == 1 and no_region["accepted"] == 1
    emails, report = prepare(
        ["mailto:a@b.org", "<A@B.org>", "jose\u0301@bu\u0308cher.de", "jos\u00e9@b\u00fccher.de"], "email"
    )
    assert emails == ["a@b.org", "jos\u00e9@xn--bcher-kva.de"]
    assert report["mailto_stripped"] == 1 and report["angle_brackets_stripped"] == 1 and report["unicode_nfc"] == 1


def test_the_client_prints_the_per_rule_report(tmp_path) -> None:
    """The report is printed before anything touches the network (an unreachable server here)."""
    from tests.conftest import ROOT

    selectors = tmp_path / "s.txt"
    selectors.write_text("07700 900123\n+44 (0)7700 900124\nnonsense\n", encoding="utf-8")
    key = tmp_path / "k.pem"
    subprocess.run(
        [sys.executable, "-m", "apps.zk_proofs.client", "keygen", "--out", str(key)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-m", "apps.zk_proofs.client", "run", "--server", "http://127.0.0.1:9", "--token", "t",
         "--tenant", "t", "--tenant-key", str(key), "--session", "s", "--type", "phone", "--selectors", str(selectors),
         "--region", "GB"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert "national_read_in_GB: 1" in result.stderr and "refused_unparseable_phone: 1" in result.stderr
    assert "accepted: 2" in result.stderr and result.returncode != 0
