"""Digest weeks in any time zone (property-based), and the section registry: a source
that does not exist yet says so, and a real provider replaces its placeholder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.tenant_rollups import periods
from apps.tenant_rollups.present import change, sections
from apps.tenant_rollups.sections import REGISTRY, register
from apps.tenant_rollups.sections.base import Section

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"]
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(now=moments, name=st.sampled_from(ZONES))
def test_the_last_complete_week_is_the_local_monday_to_monday_before_now(now, name) -> None:
    tz = periods.zone(name)
    week = periods.last_complete_week(now, tz)
    start, end = week.start.astimezone(tz), week.end.astimezone(tz)
    assert start.weekday() == 0 and (start.hour, start.minute) == (0, 0) and start.date() == week.start_day
    assert end.weekday() == 0 and (end.hour, end.minute) == (0, 0)
    assert week.end <= now < week.end + timedelta(days=7, hours=1)
    # 168 hours, give or take a daylight-saving shift.
    assert abs((week.end - week.start) - timedelta(days=7)) <= timedelta(hours=1)
    assert week.previous(tz).end == week.start
    due = periods.digest_due(now, tz, 7)
    local = now.astimezone(tz)
    if due is not None:
        assert due == week and not (local.weekday() == 0 and local.hour < 7)
    else:
        assert local.weekday() == 0 and local.hour < 7


def test_weeks_back_are_consecutive() -> None:
    tz = periods.zone("Europe/Berlin")
    week = periods.last_complete_week(datetime(2026, 3, 30, 12, tzinfo=UTC), tz)  # DST began Mar 29
    trend = periods.weeks_back(week, tz, 8)
    assert len(trend) == 8 and trend[-1] == week
    assert all(a.end == b.start for a, b in pairwise(trend))
    assert week.end - week.start == timedelta(hours=167)


def test_unknown_time_zones_are_refused() -> None:
    with pytest.raises(ValueError):
        periods.zone("Mars/Olympus")
    assert not periods.is_time_zone("Mars/Olympus") and periods.is_time_zone("Europe/Berlin")


def test_placeholders_say_not_recorded_and_a_real_provider_replaces_them() -> None:
    placeholder = REGISTRY["slos"]
    section = placeholder.collect(None).as_document()
    assert section == {
        "key": "slos",
        "title": "SLOs and error budget",
        "status": "not_recorded",
        "note": "Not recorded yet: service-level objectives and the error budget left.",
    }

    class Slos:
        key, title = "slos", "SLOs and error budget"

        def collect(self, ctx):
            s = Section(self.key, self.title)
            s.metric("budget_left", "Error budget left (%)", 42.5, None, "/slos/")
            return s

    try:
        register(Slos())
        doc = {"sections": [REGISTRY["slos"].collect(None).as_document()]}
        [shown] = sections(doc)
        assert shown["status"] == "recorded" and shown["groups"][0]["rows"][0]["value_text"] == "42.5"
        assert shown["groups"][0]["rows"][0]["previous_text"] == "—"
    finally:
        register(placeholder)


def test_changes_never_invent_a_number() -> None:
    assert change(5, 3) == "+2" and change(3, 5) == "−2" and change(4, 4) == "±0"
    assert change(None, 3) == "" and change(3, None) == ""
