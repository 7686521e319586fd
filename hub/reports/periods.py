"""Time buckets in the user's time zone: the one place that turns UTC instants into local
hours, days, weeks and months, across daylight-saving changes.

How a report groups by local time on both SQLite (no time zones) and PostgreSQL: SQL
counts per UTC *slot* (an hour, or a quarter of an hour for zones whose offset is not a
whole hour), then :func:`fold` adds the slots into local buckets in Python. A bucket is
identified by the UTC instant it starts at, so the two 02:00 hours of an autumn night are
two buckets, and the rows behind a bucket are exactly ``start <= t < end`` with the UTC
bounds from :func:`bucket_bounds`: the same rows the slots added up, because every local
bucket boundary falls on a slot boundary (offsets are multiples of the slot).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import BigInteger, Float, Integer, cast, func
from sqlalchemy.sql.elements import ColumnElement

UNITS = ("hour", "day", "week", "month")
MAX_DAYS = 731  # two years: enough for any report, small enough to fold quickly
MAX_HOUR_DAYS = 62  # hourly charts of more than two months are unreadable anyway


class ReportError(ValueError):
    """Bad report input (an unknown metric, a bucket outside the range): a 400."""


class PeriodError(ReportError):
    """A date range, unit or time zone that a report cannot use (becomes a 400)."""


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PeriodError(f"unknown time zone: {name!r}") from exc


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant at which ``day`` starts in ``tz``."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


@dataclass(frozen=True)
class Period:
    """Local dates ``first`` … ``last`` (inclusive) in ``tz``, grouped by ``unit``."""

    first: dt.date
    last: dt.date
    tz: ZoneInfo
    unit: str = "day"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise PeriodError(f"unit must be one of {', '.join(UNITS)}")
        if self.last < self.first:
            raise PeriodError("the end date is before the start date")
        days = (self.last - self.first).days + 1
        if days > MAX_DAYS:
            raise PeriodError(f"a report covers at most {MAX_DAYS} days")
        if self.unit == "hour" and days > MAX_HOUR_DAYS:
            raise PeriodError(f"hourly reports cover at most {MAX_HOUR_DAYS} days")

    @cached_property
    def start(self) -> dt.datetime:
        """UTC instant at which the period starts (local midnight of ``first``)."""
        return local_midnight(self.first, self.tz)

    @cached_property
    def end(self) -> dt.datetime:
        """UTC instant at which the period ends (exclusive)."""
        return local_midnight(self.last + dt.timedelta(days=1), self.tz)

    @cached_property
    def slot_seconds(self) -> int:
        """3600 when every offset in the period is a whole hour, else 900."""
        t = self.start
        while t < self.end:
            offset = t.astimezone(self.tz).utcoffset() or dt.timedelta(0)
            if offset.total_seconds() % 3600:
                return 900
            t += dt.timedelta(hours=1)
        return 3600

    def bucket_start(self, instant: dt.datetime) -> dt.datetime:
        """UTC start of the local bucket holding ``instant``."""
        local = instant.astimezone(self.tz)
        if self.unit == "hour":
            floor = local.replace(minute=0, second=0, microsecond=0)
            return floor.astimezone(dt.UTC)
        day = local.date()
        if self.unit == "week":
            day -= dt.timedelta(days=day.weekday())
        elif self.unit == "month":
            day = day.replace(day=1)
        # A bucket never starts before the period: a week or month cut by the range.
        return max(local_midnight(day, self.tz), self.start)

    def next_start(self, start: dt.datetime) -> dt.datetime:
        """UTC start of the bucket after the one starting at ``start`` (capped at the end)."""
        if self.unit == "hour":
            nxt = start + dt.timedelta(hours=1)
        else:
            day = start.astimezone(self.tz).date()
            if self.unit == "day":
                day += dt.timedelta(days=1)
            elif self.unit == "week":
                day += dt.timedelta(days=7 - day.weekday())
            else:
                day = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            nxt = local_midnight(day, self.tz)
        return min(nxt, self.end)

    def buckets(self) -> list[dt.datetime]:
        """Every bucket's UTC start, in order, empty ones included."""
        out = []
        t = self.start
        while t < self.end:
            out.append(t)
            t = self.next_start(t)
        return out

    def bucket_bounds(self, key: str) -> tuple[dt.datetime, dt.datetime]:
        """``[start, end)`` in UTC of the bucket named ``key`` (its start, ISO 8601)."""
        try:
            start = dt.datetime.fromisoformat(key)
        except ValueError as exc:
            raise PeriodError(f"not a bucket: {key!r}") from exc
        if start.tzinfo is None:
            raise PeriodError("a bucket key carries its UTC offset")
        start = start.astimezone(dt.UTC)
        if not (self.start <= start < self.end) or self.bucket_start(start) != start:
            raise PeriodError(f"not a bucket of this report: {key!r}")
        return start, self.next_start(start)

    def label(self, start: dt.datetime, locale: str = "en") -> str:
        """A short local label for a bucket (numbers and dates by the locale)."""
        from babel.dates import format_date, format_datetime

        local = start.astimezone(self.tz)
        if self.unit == "hour":
            return format_datetime(local, "d MMM HH:mm", tzinfo=self.tz, locale=locale)
        if self.unit == "month":
            return format_date(local.date(), "LLLL y", locale=locale)
        return format_date(local.date(), "medium", locale=locale)

    def fold(self, slots: dict[int, Any]) -> dict[dt.datetime, list[Any]]:
        """Group slot numbers (UTC epoch // slot_seconds) by their local bucket start."""
        size = self.slot_seconds
        out: dict[dt.datetime, list[Any]] = {}
        for slot, value in slots.items():
            instant = dt.datetime.fromtimestamp(slot * size, dt.UTC)
            out.setdefault(self.bucket_start(instant), []).append(value)
        return out


def report_dialect(session: Any) -> str:
    """The database's dialect name; on PostgreSQL also ``SET LOCAL jit = off`` for the
    report's transaction. Report statements are estimated expensive enough for JIT, whose
    compilation then costs seconds on a query that runs in a fraction of one (measured with
    ``bench/reports.py``)."""
    from sqlalchemy import text

    name = str(session.get_bind().dialect.name)
    if name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
    return name


def slot_expr(column: Any, dialect: str, size: int) -> ColumnElement[int]:
    """SQL for ``floor(epoch(column) / size)``, on SQLite and PostgreSQL."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger) // size
    # SQLite keeps UTC as text; strftime('%s') reads it as seconds since the epoch.
    return cast(func.strftime("%s", column), Integer) // size


def seconds_between(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    """SQL for the seconds from ``earlier`` to ``later`` (NULL if either is NULL)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0
