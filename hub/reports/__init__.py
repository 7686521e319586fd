"""Reports: aggregate queries over the CRM's and the hub's tables, grouped by local time.

A *report kind* (:class:`ReportKind`) takes :class:`Filters` (a :class:`~hub.reports.periods.Period`
in the user's time zone, queue, team, agent, channel, a metric and a series field) and
answers a :class:`ReportResult`: a chart (buckets by series), a table and totals. Its
``drill`` answers the rows behind one bar (bucket, series, metric): exactly the rows
that bar counted, so their number is the bar's value.

Kinds register themselves with :func:`register`; the contact-centre kinds live in
``hub/reports/contact_centre.py``, the generic entity reports of the wizard (and the
customer-base report) in ``hub/reports/builder.py``. Another package (campaigns,
complaints, sales) adds its kinds by calling :func:`register` from its ``init_app``; the
console's report pages, the exports and the saved reports then work for it unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from hub.reports.periods import Period, PeriodError, ReportError, zone


@dataclass(frozen=True)
class Column:
    """A table column. ``kind`` tells the UI and the exports how to show the value:
    text, int, float, seconds, percent, datetime (aware UTC)."""

    key: str
    label: str
    kind: str = "text"


@dataclass
class Table:
    columns: list[Column]
    rows: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in self.columns],
            "rows": [
                {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}
                for row in self.rows
            ],
        }


@dataclass
class Series:
    key: str
    label: str
    data: Sequence[float | int | None]


@dataclass
class Chart:
    """``keys`` are the bucket keys (drill-down), ``labels`` what the axis shows."""

    type: str
    keys: list[str]
    labels: list[str]
    series: list[Series]
    metric: str
    metric_label: str
    stacked: bool = True
    drillable: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "keys": self.keys,
            "labels": self.labels,
            "series": [{"key": s.key, "label": s.label, "data": s.data} for s in self.series],
            "metric": self.metric,
            "metric_label": self.metric_label,
            "stacked": self.stacked,
            "drillable": self.drillable,
        }


@dataclass
class ReportResult:
    kind: str
    title: str
    chart: Chart
    table: Table
    totals: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "chart": self.chart.as_json(),
            "table": self.table.as_json(),
            "totals": self.totals,
        }


@dataclass(frozen=True)
class Filters:
    """What every report understands; a kind ignores what does not apply to it."""

    period: Period
    locale: str = "en"
    queue_id: int | None = None
    team_id: int | None = None
    agent_id: int | None = None
    channel: str | None = None
    metric: str | None = None
    group: str | None = None
    chart: str = "bar"
    options: Mapping[str, Any] = field(default_factory=dict)
    now: dt.datetime | None = None


class ReportKind(Protocol):
    name: str

    @property
    def metrics(self) -> Mapping[str, Any]: ...  # metric key -> label (a lazy string)

    @property
    def groups(self) -> Mapping[str, Any]: ...  # series field key -> label

    @property
    def title(self) -> str: ...

    def run(self, session: Session, filters: Filters) -> ReportResult: ...

    def drill(
        self, session: Session, filters: Filters, bucket: str, series: str | None
    ) -> Table: ...


_KINDS: dict[str, ReportKind] = {}


def register(kind: ReportKind) -> ReportKind:
    """Make a report kind available to the report pages and exports."""
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> ReportKind:
    _load_builtin()
    try:
        return _KINDS[name]
    except KeyError:
        raise ReportError(f"unknown report: {name!r}") from None


def kinds() -> list[ReportKind]:
    _load_builtin()
    return list(_KINDS.values())


def _load_builtin() -> None:
    # Imported late: the kinds import this module for the types.
    import hub.reports.builder
    import hub.reports.contact_centre  # noqa: F401


CHART_TYPES = ("bar", "line", "pie")


def _int(args: Mapping[str, Any], key: str) -> int | None:
    raw = args.get(key)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ReportError(f"{key} must be a whole number") from None


def _date(args: Mapping[str, Any], key: str, default: dt.date) -> dt.date:
    raw = args.get(key)
    if raw in (None, ""):
        return default
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise ReportError(f"{key} must be a date (YYYY-MM-DD)") from None


def parse_filters(
    args: Mapping[str, Any],
    *,
    timezone: str,
    locale: str = "en",
    now: dt.datetime | None = None,
    default_unit: str = "day",
) -> Filters:
    """Filters from query-string style arguments (``from``, ``to``, ``unit``, ``queue``,
    ``team``, ``agent``, ``channel``, ``metric``, ``group``, ``chart``). The dates are
    local dates in ``timezone``; without them the last 7 days up to today."""
    tz = zone(timezone)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(tz).date()
    last = _date(args, "to", today)
    first = _date(args, "from", last - dt.timedelta(days=6))
    chart = str(args.get("chart") or "bar")
    if chart not in CHART_TYPES:
        raise ReportError(f"chart must be one of {', '.join(CHART_TYPES)}")
    try:
        period = Period(first, last, tz, str(args.get("unit") or default_unit))
    except PeriodError as exc:
        raise ReportError(str(exc)) from None
    return Filters(
        period=period,
        locale=locale,
        queue_id=_int(args, "queue"),
        team_id=_int(args, "team"),
        agent_id=_int(args, "agent"),
        channel=(str(args["channel"]) if args.get("channel") else None),
        metric=(str(args["metric"]) if args.get("metric") else None),
        group=(str(args["group"]) if args.get("group") else None),
        chart=chart,
        options={k: v for k, v in args.items() if k in ("entity", "columns")},
        now=now,
    )


def choose(value: str | None, allowed: Mapping[str, Any], what: str) -> str:
    """``value`` if allowed, the first allowed key when None, else a ReportError."""
    if value is None:
        return next(iter(allowed))
    if value not in allowed:
        raise ReportError(f"unknown {what}: {value!r}")
    return value


__all__ = [
    "CHART_TYPES",
    "Chart",
    "Column",
    "Filters",
    "PeriodError",
    "ReportError",
    "ReportKind",
    "ReportResult",
    "Series",
    "Table",
    "choose",
    "get_kind",
    "kinds",
    "parse_filters",
    "register",
]
