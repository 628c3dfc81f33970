"""The benchmark harness: figures say met/not met the way a reader of the summary expects,
reports without a targets block still yield their figures, and a benchmark really prints
its figures as JSON (bench_pcq, quick)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from apps.core.bench import figure, pct
from apps.core.management.commands.bench import _figures


def test_a_figure_is_met_below_a_time_target_and_above_a_throughput_target() -> None:
    slow = figure(1200.0, unit="ms", target=1000, aim=500, baseline={"one_at_a_time_p95_ms": 80})
    assert (slow["met"], slow["aim_met"], slow["baseline"]) == (False, False, {"one_at_a_time_p95_ms": 80})
    fast = figure(400.0, unit="ms", target=1000, aim=500)
    assert (fast["met"], fast["aim_met"]) == (True, True)
    appends = figure(2100.0, unit="appends/s", target=1000, higher_is_better=True)
    assert appends["met"] is True and appends["aim_met"] is None
    assert pct([5.0, 1.0, 3.0])["p50_ms"] == 3.0 and pct([])["n"] == 0


def test_the_summary_takes_a_targets_block_or_derives_figures_from_aims() -> None:
    assert _figures("x", {"targets": {"t": {"value": 1}}}) == {"t": {"value": 1}}
    derived = _figures("zk", {"batch": {"p95_ms": 60.0, "aim_p95_ms": 50}, "other": [{"p95_ms": 1}]})
    assert list(derived) == ["batch"] and derived["batch"]["aim_met"] is False


@pytest.mark.django_db
def test_bench_pcq_prints_its_figures_as_json() -> None:
    out = io.StringIO()
    call_command("bench_pcq", "--quick", stdout=out)
    report = json.loads(out.getvalue())
    targets = report["targets"]
    assert set(targets) == {"replay_p95_seconds_largest", "log_appends_per_second"}
    assert all(isinstance(t["met"], bool) and "baseline" in t for t in targets.values())
    assert report["replay"][-1]["where_the_time_goes_ms"]["checksum_tree_canonicalize_every_record"] > 0
