"""Reports against counts computed independently from the inserted rows: local days and
hours across the DST change in two zones, filters, drill-down rows = bar values, exports
(CSV injection, XLSX through openpyxl, PDF), saved reports and who may see them."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from hub.db import db as database
from hub.reports import Filters, ReportError, get_kind, parse_filters
from hub.reports.export import neutralise
from tests.conftest import _empty_tables, make_test_app
from tests.factories import PASSWORD, make_user
from tests.report_data import HOSTILE, Seed, expected_contacts, local_day, seed, state_seconds

NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app and one data set for the module (the tests only read, or clean up what
    they add): seeding is most of the time here."""
    application = make_test_app(database_url, tmp_path_factory.mktemp("reports") / "var")
    yield application
    _empty_tables(application)
    database.engine_for(application).dispose()


@pytest.fixture(scope="module")
def data(app: Flask) -> Seed:
    with app.app_context():
        s = seed(database.session)
        database.session.commit()
        for user in [*s.agents, s.supervisor]:
            assert user is not None and user.email  # loaded before the session lets go
        database.session.expunge_all()
        return s


def _filters(tz: str, first: str, last: str, **args: Any) -> Filters:
    return parse_filters({"from": first, "to": last, **args}, timezone=tz, now=NOW)


def _bars(result: Any) -> dict[tuple[str, str], int]:
    """(bucket key, series key) -> bar value, leaving out the empty ones."""
    out = {}
    for series in result.chart.series:
        for key, value in zip(result.chart.keys, series.data, strict=True):
            if value:
                out[(key, series.key)] = value
    return out


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.mark.parametrize("tz", ["Europe/Warsaw", "America/New_York", "UTC"])
def test_contacts_per_local_day_match_the_rows_across_dst(
    session: Session, data: Seed, tz: str
) -> None:
    first, last = dt.date(2026, 10, 21), dt.date(2026, 11, 3)
    report = get_kind("contact_centre")
    result = report.run(session, _filters(tz, str(first), str(last)))
    expected = expected_contacts(data, tz, first, last)
    days = _days(first, last)
    assert len(result.chart.keys) == len(days)
    got: Counter[tuple[dt.date, str]] = Counter()
    for series in result.chart.series:
        for day, value in zip(days, series.data, strict=True):
            if value:
                got[(day, series.key)] = value
    assert got == expected
    assert result.totals["contacts"] == sum(expected.values())
    # The bucket keys are the local midnights, in UTC.
    for key, day in zip(result.chart.keys, days, strict=True):
        start = dt.datetime.fromisoformat(key)
        assert start.astimezone(ZoneInfo(tz)).date() == day
        assert start.astimezone(ZoneInfo(tz)).hour == 0


def test_service_level_abandonment_aht_and_breaches(session: Session, data: Seed) -> None:
    tz = "Europe/Warsaw"
    first, last = dt.date(2026, 10, 22), dt.date(2026, 10, 30)
    result = get_kind("contact_centre").run(session, _filters(tz, str(first), str(last)))
    rows = [e for e in data.entries if first <= local_day(e["at"], tz) <= last]
    answered = [e for e in rows if e["answered_at"]]
    abandoned = [e for e in rows if e["abandoned_at"] and not e["answered_at"]]
    with_target = [e for e in answered + abandoned if (e["queue_id"], e["channel"]) in data.targets]
    within = [
        e
        for e in answered
        if (e["queue_id"], e["channel"]) in data.targets
        and e["wait"] <= data.targets[(e["queue_id"], e["channel"])]
    ]
    handled = [
        (e["finished_at"] - e["answered_at"]).total_seconds() for e in answered if e["finished_at"]
    ]
    t = result.totals
    assert t["contacts"] == len(rows)
    assert t["answered"] == len(answered)
    assert t["abandoned"] == len(abandoned)
    assert t["within_target"] == len(within)
    assert t["service_level"] == round(100 * len(within) / len(with_target), 1)
    assert t["abandon_rate"] == round(100 * len(abandoned) / len(rows), 1)
    assert t["aht_seconds"] == pytest.approx(sum(handled) / len(handled), abs=0.06)
    assert t["asa_seconds"] == pytest.approx(
        sum(e["wait"] for e in answered) / len(answered), abs=0.06
    )
    assert t["breached"] == sum(1 for e in rows if e["breached"])
    # The table's rows add up to the totals.
    assert sum(r["contacts"] for r in result.table.rows) == t["contacts"]
    assert sum(r["breached"] for r in result.table.rows) == t["breached"]


@pytest.mark.parametrize(
    "metric", ["contacts", "answered", "abandoned", "within_target", "breached"]
)
def test_every_bar_drills_down_to_exactly_its_rows(
    session: Session, data: Seed, metric: str
) -> None:
    report = get_kind("contact_centre")
    filters = _filters("Europe/Warsaw", "2026-10-23", "2026-10-27", metric=metric)
    result = report.run(session, filters)
    bars = _bars(result)
    assert bars
    seen: set[int] = set()
    for (bucket, channel), value in bars.items():
        table = report.drill(session, filters, bucket, channel)
        assert len(table.rows) == value
        ids = {r["id"] for r in table.rows}
        assert not ids & seen  # no row in two bars
        seen |= ids
    assert len(seen) == sum(bars.values())


def test_hours_of_the_dst_night_are_25_buckets(session: Session, data: Seed) -> None:
    tz = "Europe/Warsaw"
    report = get_kind("contact_centre")
    filters = _filters(tz, "2026-10-25", "2026-10-25", unit="hour")
    result = report.run(session, filters)
    assert len(result.chart.keys) == 25  # 02:00-03:00 happens twice
    zone = ZoneInfo(tz)
    expected: Counter[dt.datetime] = Counter()
    for e in data.entries:
        if local_day(e["at"], tz) == dt.date(2026, 10, 25):
            hour_start = e["at"].replace(minute=0, second=0, microsecond=0)  # whole-hour zone
            expected[hour_start] += 1
    got = {
        dt.datetime.fromisoformat(k): sum(s.data[i] or 0 for s in result.chart.series)
        for i, k in enumerate(result.chart.keys)
    }
    assert {k: v for k, v in got.items() if v} == dict(expected)
    labels = [dt.datetime.fromisoformat(k).astimezone(zone).hour for k in result.chart.keys]
    assert labels.count(2) == 2
    # The two 02:30 calls (CEST, then CET) land in different bars.
    two = [k for k in result.chart.keys if dt.datetime.fromisoformat(k).astimezone(zone).hour == 2]
    for key in two:
        rows = report.drill(session, filters, key, None)
        assert any(r["enqueued_at"].minute == 30 for r in rows.rows)


def test_weeks_and_a_zone_with_a_half_hour_offset(session: Session, data: Seed) -> None:
    report = get_kind("contact_centre")
    for tz, unit in (("Europe/Warsaw", "week"), ("Asia/Kolkata", "day")):
        filters = _filters(tz, "2026-10-20", "2026-11-03", unit=unit)
        result = report.run(session, filters)
        zone = ZoneInfo(tz)
        starts = [dt.datetime.fromisoformat(k) for k in result.chart.keys]
        expected: Counter[int] = Counter()
        for e in data.entries:
            local = e["at"].astimezone(zone)
            if dt.date(2026, 10, 20) <= local.date() <= dt.date(2026, 11, 3):
                idx = max(i for i, st in enumerate(starts) if st <= e["at"])
                expected[idx] += 1
        got = Counter(
            {i: sum(s.data[i] or 0 for s in result.chart.series) for i in range(len(starts))}
        )
        assert +got == expected, tz
        if unit == "week":
            assert all(st.astimezone(zone).weekday() == 0 for st in starts[1:])


def test_filters_by_queue_team_agent_and_channel(session: Session, data: Seed) -> None:
    tz, first, last = "Europe/Warsaw", dt.date(2026, 10, 20), dt.date(2026, 11, 4)
    report = get_kind("contact_centre")
    team_agents = {a.id for a in data.agents[:2]}
    cases: list[tuple[dict[str, Any], Any]] = [
        (
            {"queue": data.queue_ids["service"]},
            lambda e: e["queue_id"] == data.queue_ids["service"],
        ),
        ({"channel": "email"}, lambda e: e["channel"] == "email"),
        ({"agent": data.agents[1].id}, lambda e: e["agent_id"] == data.agents[1].id),
        (
            {"team": data.team_id},
            lambda e: e["agent_id"] in team_agents or e["queue_id"] == data.queue_ids["sales"],
        ),
    ]
    for args, keep in cases:
        result = report.run(session, _filters(tz, str(first), str(last), **args))
        expected = sum(
            1 for e in data.entries if first <= local_day(e["at"], tz) <= last and keep(e)
        )
        assert result.totals["contacts"] == expected, args


def test_agent_report_handled_aht_and_occupancy(session: Session, data: Seed) -> None:
    tz = "Europe/Warsaw"
    filters = _filters(tz, "2026-10-25", "2026-10-26", metric="occupancy")
    report = get_kind("agents")
    result = report.run(session, filters)
    period = filters.period
    by_agent = {r["agent_id"]: r for r in result.table.rows}
    for agent in data.agents:
        mine = [
            e
            for e in data.entries
            if e["agent_id"] == agent.id and period.start <= e["answered_at"] < period.end
        ]
        if not mine:
            assert agent.id not in by_agent or by_agent[agent.id]["handled"] == 0
            continue
        assert by_agent[agent.id]["handled"] == len(mine)
        drilled = report.drill(session, filters, str(agent.id), None)
        assert {r["id"] for r in drilled.rows} == {e["id"] for e in mine}
    expected = state_seconds(data.states, period.start, period.end)
    row = by_agent[data.agents[0].id]
    assert row["busy_seconds"] == expected["busy"]
    assert row["wrap_up_seconds"] == expected["wrap_up"]
    assert row["break_seconds"] == expected["break"]
    assert row["available_seconds"] == expected["available"] + expected["offered"]
    logged_in = sum(v for k, v in expected.items() if k != "offline")
    assert row["logged_in_seconds"] == logged_in
    work = expected["busy"] + expected["wrap_up"]
    ready = work + expected["available"] + expected["offered"]
    assert row["occupancy"] == round(100 * work / ready, 1)
    # A range that starts mid-state is clipped, not counted from the state's start.
    late = _filters(tz, "2026-10-26", "2026-10-26")
    row2 = {r["agent_id"]: r for r in report.run(session, late).table.rows}.get(data.agents[0].id)
    exp2 = state_seconds(data.states, late.period.start, late.period.end)
    got2 = row2["logged_in_seconds"] if row2 else 0
    assert got2 == sum(v for k, v in exp2.items() if k != "offline")


def test_ticket_first_response_and_breaches(session: Session, data: Seed) -> None:
    tz = "America/New_York"
    first, last = dt.date(2026, 10, 20), dt.date(2026, 11, 3)
    report = get_kind("tickets")
    filters = _filters(tz, str(first), str(last), metric="response_breached")
    result = report.run(session, filters)
    rows = [t for t in data.tickets if first <= local_day(t["at"], tz) <= last]
    responded = [t for t in rows if t["responded_at"]]
    late = [
        t
        for t in rows
        if (t["responded_at"] and t["responded_at"] > t["due"])
        or (not t["responded_at"] and t["due"] < NOW)
    ]
    assert result.totals["created"] == len(rows)
    assert result.totals["responded"] == len(responded)
    assert result.totals["response_breached"] == len(late)
    assert result.totals["sla_breached"] == sum(1 for t in rows if t["sla_breached"])
    avg = sum((t["responded_at"] - t["at"]).total_seconds() for t in responded) / len(responded)
    assert result.totals["avg_first_response_seconds"] == pytest.approx(avg, abs=0.06)
    for (bucket, priority), value in _bars(result).items():
        table = report.drill(session, filters, bucket, priority)
        assert len(table.rows) == value


def test_customer_base_by_class_and_tag_per_month(session: Session, data: Seed) -> None:
    tz = "Europe/Warsaw"
    report = get_kind("customers")
    for group in ("customer_class", "tag"):
        filters = _filters(tz, "2026-01-01", "2026-12-31", unit="month", group=group)
        result = report.run(session, filters)
        assert len(result.chart.keys) == 12
        expected: Counter[tuple[int, str]] = Counter()
        for c in data.customers:
            month = c["at"].astimezone(ZoneInfo(tz)).month
            values = [c["class"]] if group == "customer_class" else (c["tags"] or [None])
            for v in values:
                expected[(month, v or "-")] += 1
        got = {
            (dt.datetime.fromisoformat(k).astimezone(ZoneInfo(tz)).month, s): v
            for (k, s), v in _bars(result).items()
        }
        assert got == dict(expected)
        for (bucket, series), value in _bars(result).items():
            assert len(report.drill(session, filters, bucket, series).rows) == value


def test_wizard_counts_interactions_by_channel_with_chosen_columns(
    session: Session, data: Seed
) -> None:
    report = get_kind("entity")
    filters = parse_filters(
        {
            "from": "2026-10-24",
            "to": "2026-10-26",
            "entity": "interactions",
            "group": "channel",
            "columns": "id,created_at,subject,customer",
        },
        timezone="Europe/Warsaw",
        now=NOW,
    )
    result = report.run(session, filters)
    expected = expected_contacts(
        data, "Europe/Warsaw", dt.date(2026, 10, 24), dt.date(2026, 10, 26)
    )
    assert result.totals["count"] == sum(expected.values())
    for (bucket, channel), value in _bars(result).items():
        table = report.drill(session, filters, bucket, channel)
        assert len(table.rows) == value
        assert [c.key for c in table.columns] == ["id", "created_at", "subject", "customer"]
    with pytest.raises(ReportError):
        report.run(session, parse_filters({"entity": "nope"}, timezone="UTC"))
    with pytest.raises(ReportError):
        report.drill(session, filters, "2020-01-01T00:00:00+00:00", None)


def test_csv_cells_are_neutralised() -> None:
    assert neutralise(HOSTILE) == "'" + HOSTILE
    for bad in ("+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(bad).startswith("'")
    assert neutralise("Kowalska") == "Kowalska"


def _login(client: FlaskClient, user: Any) -> None:
    r = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert r.status_code in (302, 303)


def test_routes_exports_and_rights(
    app: Flask, client: FlaskClient, session: Session, data: Seed
) -> None:
    agent = data.agents[0]
    _login(client, agent)
    for url in (
        "/reports",
        "/reports/api/run/contact_centre",
        "/reports/api/drill/contact_centre?bucket=x",
        "/reports/export/contact_centre.csv",
        "/reports/api/saved",
        "/reports/vendor/chart.umd.js",
    ):
        assert client.get(url).status_code == 403, url
    client.get("/logout")
    assert data.supervisor is not None
    _login(client, data.supervisor)
    assert client.get("/reports").status_code == 200
    opts = client.get("/reports/api/options").json
    customers = next(k for k in opts["kinds"] if k["name"] == "customers")
    assert ["customer_class", "Class"] in customers["groups"]
    assert customers["filters"] == []
    args = "from=2026-10-24&to=2026-10-26"
    run = client.get(f"/reports/api/run/contact_centre?{args}")
    assert run.status_code == 200
    assert client.get("/reports/api/run/contact_centre?from=bad").status_code == 400
    assert client.get("/reports/api/run/nope").status_code == 400
    # The drill-down rows with the hostile subject, exported.
    first_key = run.json["chart"]["keys"][0]
    drill_args = f"{args}&{urlencode({'bucket': first_key})}"
    r = client.get(f"/reports/export/contact_centre.csv?{drill_args}")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    cells = [c for row in csv.reader(io.StringIO(r.data.decode("utf-8-sig"))) for c in row]
    assert "'" + HOSTILE in cells
    assert HOSTILE not in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    r = client.get(f"/reports/export/contact_centre.xlsx?{drill_args}")
    wb = load_workbook(io.BytesIO(r.data))
    ws = wb.active
    assert ws is not None
    values = [c.value for row in ws.iter_rows() for c in row]
    assert "'" + HOSTILE in values
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert (
        ws.max_row
        == len(client.get(f"/reports/api/drill/contact_centre?{drill_args}").json["rows"]) + 1
    )
    r = client.get(f"/reports/export/contact_centre.xlsx?{args}")
    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws is not None and ws.max_row == 1 + len(run.json["table"]["rows"])
    r = client.get(f"/reports/export/agents.pdf?{args}")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    assert client.get(f"/reports/export/contact_centre.doc?{args}").status_code == 400


def test_saved_reports_are_private_unless_shared(
    app: Flask, client: FlaskClient, session: Session, data: Seed
) -> None:
    boss = data.supervisor
    assert boss is not None
    other = make_user(session, role="supervisor", name="Inna Supervisor")
    teammate = make_user(session, role="supervisor", name="Tomasz Team", teams=("Zespół A",))
    from crm_core.models import Team, User

    team = session.get(Team, data.team_id)
    assert team is not None
    team.members.append(session.get(User, boss.id))
    session.commit()
    _login(client, boss)
    body = {"kind": "contact_centre", "definition": {"days": "7", "unit": "day"}}
    mine = client.post("/reports/api/saved", json={**body, "name": "Mój"})
    assert mine.status_code == 201
    assert mine.json["args"]["from"] and "days" not in mine.json["args"]
    team_one = client.post(
        "/reports/api/saved", json={**body, "name": "Zespołowy", "team_id": data.team_id}
    )
    assert team_one.status_code == 201
    shared = client.post("/reports/api/saved", json={**body, "name": "Wspólny", "shared": True})
    assert shared.status_code == 201
    bad = client.post(
        "/reports/api/saved",
        json={"kind": "contact_centre", "name": "x", "definition": {"unit": "year"}},
    )
    assert bad.status_code == 400
    client.get("/logout")
    _login(client, other)
    assert {r["name"] for r in client.get("/reports/api/saved").json} == {"Wspólny"}
    assert client.get(f"/reports/api/saved/{mine.json['id']}").status_code == 404
    assert client.delete(f"/reports/api/saved/{shared.json['id']}").status_code == 403
    client.get("/logout")
    _login(client, teammate)
    assert {r["name"] for r in client.get("/reports/api/saved").json} == {"Wspólny", "Zespołowy"}
    client.get("/logout")
    _login(client, boss)
    assert client.delete(f"/reports/api/saved/{mine.json['id']}").status_code == 204
    assert {r["name"] for r in client.get("/reports/api/saved").json} == {"Wspólny", "Zespołowy"}
