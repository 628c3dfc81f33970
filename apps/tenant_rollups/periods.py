"""Digest weeks in a tenant's time zone. Pure: no Django.

A digest week runs from a local Monday 00:00 to the next local Monday 00:00, so a week is
168 hours except across a daylight-saving change (167 or 169). The digest for a week is due
from ``SEND_HOUR`` local time on the Monday that ends it; a late beat catches up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

SEND_HOUR = 7


@dataclass(frozen=True)
class Week:
    start_day: date  # local Monday
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC (exclusive)

    @property
    def label(self) -> str:
        return f"{self.start_day:%G-W%V}"

    def previous(self, tz: ZoneInfo) -> Week:
        return week_starting(self.start_day - timedelta(days=7), tz)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def is_time_zone(name: str) -> bool:
    return name in available_timezones()


def _local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def week_starting(monday: date, tz: ZoneInfo) -> Week:
    return Week(monday, _local_midnight_utc(monday, tz), _local_midnight_utc(monday + timedelta(days=7), tz))


def last_complete_week(now: datetime, tz: ZoneInfo) -> Week:
    """The most recent week that has ended at ``now`` (aware)."""
    local = now.astimezone(tz)
    this_monday = local.date() - timedelta(days=local.weekday())
    return week_starting(this_monday - timedelta(days=7), tz)


def digest_due(now: datetime, tz: ZoneInfo, send_hour: int = SEND_HOUR) -> Week | None:
    """The week whose digest may be sent at ``now``: the last complete week, once the local
    clock has passed ``send_hour`` on the Monday that ended it (or any later day)."""
    week = last_complete_week(now, tz)
    send_from = datetime.combine(week.start_day + timedelta(days=7), time(send_hour, 0), tzinfo=tz)
    return week if now >= send_from else None


def weeks_back(week: Week, tz: ZoneInfo, count: int) -> list[Week]:
    """``count`` weeks ending with ``week``, oldest first."""
    out = [week]
    while len(out) < count:
        out.append(out[-1].previous(tz))
    return out[::-1]
