"""Local-time buckets of the reports: DST days, cut weeks and months, bucket keys."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from hub.reports.periods import Period, PeriodError

WAW = ZoneInfo("Europe/Warsaw")


def test_spring_day_has_23_hours_and_autumn_day_25() -> None:
    spring = Period(dt.date(2026, 3, 29), dt.date(2026, 3, 29), WAW, "hour")
    autumn = Period(dt.date(2026, 10, 25), dt.date(2026, 10, 25), WAW, "hour")
    assert len(spring.buckets()) == 23
    assert len(autumn.buckets()) == 25
    hours = [b.astimezone(WAW).hour for b in autumn.buckets()]
    assert hours.count(2) == 2 and hours[:4] == [0, 1, 2, 2]


def test_days_start_at_local_midnight_across_the_change() -> None:
    p = Period(dt.date(2026, 10, 24), dt.date(2026, 10, 26), WAW, "day")
    starts = p.buckets()
    assert [s.astimezone(WAW).time() for s in starts] == [dt.time(0)] * 3
    assert [
        (b - a).total_seconds() / 3600 for a, b in zip(starts, [*starts[1:], p.end], strict=True)
    ] == [
        24,
        25,
        24,
    ]


def test_weeks_and_months_are_cut_by_the_range() -> None:
    weeks = Period(dt.date(2026, 10, 21), dt.date(2026, 11, 3), WAW, "week").buckets()
    assert weeks[0].astimezone(WAW).date() == dt.date(2026, 10, 21)  # a Wednesday
    assert [w.astimezone(WAW).date() for w in weeks[1:]] == [
        dt.date(2026, 10, 26),
        dt.date(2026, 11, 2),
    ]
    months = Period(dt.date(2026, 1, 15), dt.date(2026, 3, 31), WAW, "month").buckets()
    assert [m.astimezone(WAW).date() for m in months] == [
        dt.date(2026, 1, 15),
        dt.date(2026, 2, 1),
        dt.date(2026, 3, 1),
    ]


def test_slots_are_quarter_hours_where_the_offset_is_not_whole() -> None:
    day = dt.date(2026, 10, 25)
    assert Period(day, day, WAW).slot_seconds == 3600
    assert Period(day, day, ZoneInfo("Asia/Kolkata")).slot_seconds == 900
    assert Period(day, day, ZoneInfo("Asia/Kathmandu")).slot_seconds == 900


def test_bucket_keys_are_checked() -> None:
    p = Period(dt.date(2026, 10, 24), dt.date(2026, 10, 26), WAW, "day")
    start, end = p.bucket_bounds(p.buckets()[1].isoformat())
    assert (end - start) == dt.timedelta(hours=25)
    for bad in (
        "yesterday",
        "2026-10-25T00:00:00",
        "2026-10-25T01:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
    ):
        with pytest.raises(PeriodError):
            p.bucket_bounds(bad)


def test_bad_ranges_are_refused() -> None:
    with pytest.raises(PeriodError):
        Period(dt.date(2026, 2, 1), dt.date(2026, 1, 1), WAW)
    with pytest.raises(PeriodError):
        Period(dt.date(2026, 1, 1), dt.date(2026, 12, 31), WAW, "hour")
    with pytest.raises(PeriodError):
        Period(dt.date(2026, 1, 1), dt.date(2026, 1, 2), WAW, "year")
