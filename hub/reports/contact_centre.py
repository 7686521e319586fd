"""The contact-centre reports: contacts, service level, abandonment and handle time per
local hour/day/week/month (``contact_centre``), per agent with occupancy (``agents``),
and e-mail tickets' first response and SLA breaches (``tickets``).

What the numbers mean (also in ``docs/reports.md``):

- a *contact* is a routed inbound interaction: one ``queue_entries`` row, counted in the
  bucket of its ``enqueued_at``;
- *answered*: an agent accepted it (``answered_at`` set); *abandoned*: it ended
  (``abandoned_at``) before any agent answered;
- *within target*: answered with ``wait_seconds`` at most the queue's target for the
  channel (``queues.sla_targets``, as ``hub/sla.py`` reads it); the service level is
  within target ÷ (answered + abandoned) among contacts whose queue has a target;
- *handle time*: from answer to the end of wrap-up (``finished_at``), that is talk plus
  wrap-up as the router records them; AHT is its mean over contacts that finished;
- *SLA breached*: the contact's ``answer`` SLA clock recorded a breach;
- *occupancy* (agents): time busy or in wrap-up ÷ time available, ringing, busy or in
  wrap-up, from the agent state history (``agent_state_changes``), clipped to the range.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from crm_core.models import Customer, Interaction, Ticket, User
from crm_core.models.users import team_members
from hub.models import AgentStateChange, Queue, QueueEntry, QueueMember, SlaClock
from hub.reports import (
    Chart,
    Column,
    Filters,
    ReportError,
    ReportResult,
    Series,
    Table,
    choose,
    register,
)
from hub.reports.periods import report_dialect, seconds_between, slot_expr

DRILL_LIMIT = 5000

CHANNEL_LABELS: dict[str, Any] = {
    "voice": _l("Call"),
    "email": _l("E-mail"),
    "fax": _l("Fax"),
    "webform": _l("Web form"),
    "sms": _l("SMS"),
    "chat": _l("Chat"),
}


def _dialect(session: Session) -> str:
    return report_dialect(session)


def _now(filters: Filters) -> dt.datetime:
    return filters.now or dt.datetime.now(dt.UTC)


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _avg(total: float | None, n: int) -> float | None:
    return round(float(total or 0) / n, 1) if n else None


def _target_case(session: Session) -> ColumnElement[Any]:
    """The answer target (seconds) of each entry's queue and channel, NULL without one."""
    whens = []
    for qid, targets in session.execute(select(Queue.id, Queue.sla_targets)):
        for channel, target in (targets or {}).items():
            if isinstance(target, dict) and isinstance(target.get("seconds"), int):
                whens.append(
                    (
                        and_(QueueEntry.queue_id == qid, QueueEntry.channel == channel),
                        literal(int(target["seconds"])),
                    )
                )
    if not whens:
        return literal(None)
    return case(*whens, else_=None)


def _entry_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if filters.queue_id is not None:
        conds.append(QueueEntry.queue_id == filters.queue_id)
    if filters.channel:
        conds.append(QueueEntry.channel == filters.channel)
    if filters.agent_id is not None:
        conds.append(QueueEntry.agent_id == filters.agent_id)
    if filters.team_id is not None:
        members = select(team_members.c.user_id).where(team_members.c.team_id == filters.team_id)
        team_queues = select(Queue.id).where(Queue.team_id == filters.team_id)
        conds.append(or_(QueueEntry.agent_id.in_(members), QueueEntry.queue_id.in_(team_queues)))
    return conds


def _breached() -> ColumnElement[bool]:
    """The entry's ``answer`` SLA clock recorded a breach: a correlated scalar subquery,
    one probe of the unique (interaction_id, kind) index per counted row. (A join, or an
    EXISTS that PostgreSQL turns into a hashed subplan, reads every clock ever started.)"""
    return (
        select(SlaClock.breached_at)
        .where(SlaClock.interaction_id == QueueEntry.interaction_id, SlaClock.kind == "answer")
        .limit(1)
        .scalar_subquery()
        .is_not(None)
    )


def _metric_predicates(target: ColumnElement[Any]) -> dict[str, ColumnElement[bool]]:
    answered = QueueEntry.answered_at.is_not(None)
    return {
        "contacts": literal(True),
        "answered": answered,
        "abandoned": and_(QueueEntry.abandoned_at.is_not(None), QueueEntry.answered_at.is_(None)),
        "within_target": and_(answered, QueueEntry.wait_seconds <= target),
        "breached": _breached(),
    }


def _flag(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((cond, 1), else_=0))


def _entry_rows(
    session: Session, filters: Filters, conds: list[ColumnElement[bool]], order: Any
) -> Table:
    """The drill-down rows of routed contacts: who, when, how long, what happened."""
    dialect = _dialect(session)
    agent = aliased(User, name="agent")
    handle = seconds_between(QueueEntry.finished_at, QueueEntry.answered_at, dialect)
    stmt = (
        select(QueueEntry)
        .join(Interaction, Interaction.id == QueueEntry.interaction_id)
        .outerjoin(Customer, Customer.id == Interaction.customer_id)
        .outerjoin(Queue, Queue.id == QueueEntry.queue_id)
        .outerjoin(agent, agent.id == QueueEntry.agent_id)
        .with_only_columns(
            QueueEntry.interaction_id,
            QueueEntry.enqueued_at,
            QueueEntry.channel,
            Queue.name,
            agent.name,
            Customer.display_name,
            Interaction.from_address,
            Interaction.subject,
            QueueEntry.wait_seconds,
            handle,
            QueueEntry.answered_at,
            QueueEntry.abandoned_at,
            _breached(),
        )
        .where(*conds)
        .order_by(order, QueueEntry.interaction_id)
        .limit(DRILL_LIMIT)
    )
    rows = []
    for r in session.execute(stmt):
        if r[10] is not None:
            outcome = "answered"
        elif r[11] is not None:
            outcome = "abandoned"
        else:
            outcome = "open"
        rows.append(
            {
                "id": r[0],
                "enqueued_at": r[1],
                "channel": str(CHANNEL_LABELS.get(r[2], r[2])),
                "queue": r[3] or "",
                "agent": r[4] or "",
                "customer": r[5] or r[6] or "",
                "subject": r[7] or "",
                "wait_seconds": r[8],
                "handle_seconds": round(float(r[9]), 1) if r[9] is not None else None,
                "outcome": str(OUTCOME_LABELS[outcome]),
                "breached": bool(r[12]),
            }
        )
    return Table(columns=_columns(ENTRY_COLUMNS), rows=rows)


OUTCOME_LABELS = {"answered": _l("Answered"), "abandoned": _l("Abandoned"), "open": _l("Open")}
ENTRY_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("id", _l("Interaction"), "int"),
    ("enqueued_at", _l("Queued at"), "datetime"),
    ("channel", _l("Channel"), "text"),
    ("queue", _l("Queue"), "text"),
    ("agent", _l("Agent"), "text"),
    ("customer", _l("Customer"), "text"),
    ("subject", _l("Subject"), "text"),
    ("wait_seconds", _l("Wait (s)"), "seconds"),
    ("handle_seconds", _l("Handle time (s)"), "seconds"),
    ("outcome", _l("Outcome"), "text"),
    ("breached", _l("SLA breached"), "text"),
)


def _columns(spec: tuple[tuple[str, Any, str], ...]) -> list[Column]:
    return [Column(key, str(label), kind) for key, label, kind in spec]


class ContactCentreReport:
    """Contacts per bucket and channel, with service level, abandonment, ASA and AHT."""

    name = "contact_centre"
    metrics: Mapping[str, Any] = {
        "contacts": _l("Contacts"),
        "answered": _l("Answered"),
        "abandoned": _l("Abandoned"),
        "within_target": _l("Answered within target"),
        "breached": _l("SLA breaches"),
    }
    groups: Mapping[str, Any] = {"channel": _l("Channel")}

    @property
    def title(self) -> str:
        return str(_l("Contact centre"))

    def run(self, session: Session, filters: Filters) -> ReportResult:
        metric = choose(filters.metric, self.metrics, "metric")
        period = filters.period
        dialect = _dialect(session)
        target = _target_case(session)
        preds = _metric_predicates(target)
        slot = slot_expr(QueueEntry.enqueued_at, dialect, period.slot_seconds).label("slot")
        handle = seconds_between(QueueEntry.finished_at, QueueEntry.answered_at, dialect)
        finished = and_(QueueEntry.answered_at.is_not(None), QueueEntry.finished_at.is_not(None))
        # Breached answer clocks joined once (at most one per contact: sla_clocks is
        # unique on (interaction_id, kind)), so one pass that PostgreSQL runs in parallel.
        breached = (
            select(SlaClock.interaction_id.label("interaction_id"))
            .where(SlaClock.kind == "answer", SlaClock.breached_at.is_not(None))
            .subquery("breached_clock")
        )
        stmt = (
            select(QueueEntry)
            .outerjoin(breached, breached.c.interaction_id == QueueEntry.interaction_id)
            .with_only_columns(
                slot,
                QueueEntry.channel,
                func.count(),
                _flag(preds["answered"]),
                _flag(preds["abandoned"]),
                _flag(preds["within_target"]),
                _flag(and_(target.is_not(None), or_(preds["answered"], preds["abandoned"]))),
                func.sum(case((preds["answered"], QueueEntry.wait_seconds), else_=0)),
                func.sum(case((finished, handle), else_=None)),
                _flag(finished),
                func.count(breached.c.interaction_id),
            )
            .where(
                QueueEntry.enqueued_at >= period.start,
                QueueEntry.enqueued_at < period.end,
                *_entry_conditions(filters),
            )
            .group_by(slot, QueueEntry.channel)
        )
        names = (
            "contacts",
            "answered",
            "abandoned",
            "within_target",
            "sl_base",
            "wait_sum",
            "handle_sum",
            "handled",
            "breached",
        )
        per_slot: dict[int, list[tuple[str, dict[str, float]]]] = defaultdict(list)
        for row in session.execute(stmt):
            values = {n: float(v or 0) for n, v in zip(names, row[2:], strict=True)}
            per_slot[int(row[0])].append((row[1], values))
        buckets = period.buckets()
        index = {b: i for i, b in enumerate(buckets)}
        by_bucket: list[dict[str, float]] = [dict.fromkeys(names, 0.0) for _ in buckets]
        by_channel: dict[str, list[float]] = {}
        for start, groups in period.fold(per_slot).items():
            i = index[start]
            for items in groups:
                for channel, values in items:
                    for n in names:
                        by_bucket[i][n] += values[n]
                    by_channel.setdefault(channel, [0.0] * len(buckets))[i] += values[metric]
        series = [
            Series(ch, str(CHANNEL_LABELS.get(ch, ch)), [int(v) for v in data])
            for ch, data in sorted(by_channel.items())
        ]
        labels = [period.label(b, filters.locale) for b in buckets]
        rows = [
            {"bucket": labels[i], "key": b.isoformat(), **self._figures(by_bucket[i])}
            for i, b in enumerate(buckets)
        ]
        total: dict[str, float] = dict.fromkeys(names, 0.0)
        for values in by_bucket:
            for n in names:
                total[n] += values[n]
        return ReportResult(
            kind=self.name,
            title=self.title,
            chart=Chart(
                type=filters.chart,
                keys=[b.isoformat() for b in buckets],
                labels=labels,
                series=series,
                metric=metric,
                metric_label=str(self.metrics[metric]),
            ),
            table=Table(columns=_columns(CC_COLUMNS), rows=rows),
            totals=self._figures(total),
        )

    @staticmethod
    def _figures(v: Mapping[str, float]) -> dict[str, Any]:
        return {
            "contacts": int(v["contacts"]),
            "answered": int(v["answered"]),
            "abandoned": int(v["abandoned"]),
            "abandon_rate": _pct(v["abandoned"], v["contacts"]),
            "within_target": int(v["within_target"]),
            "service_level": _pct(v["within_target"], v["sl_base"]),
            "asa_seconds": _avg(v["wait_sum"], int(v["answered"])),
            "aht_seconds": _avg(v["handle_sum"], int(v["handled"])),
            "breached": int(v["breached"]),
        }

    def drill(self, session: Session, filters: Filters, bucket: str, series: str | None) -> Table:
        metric = choose(filters.metric, self.metrics, "metric")
        start, end = filters.period.bucket_bounds(bucket)
        preds = _metric_predicates(_target_case(session))
        conds = [
            QueueEntry.enqueued_at >= start,
            QueueEntry.enqueued_at < end,
            preds[metric],
            *_entry_conditions(filters),
        ]
        if series:
            conds.append(QueueEntry.channel == series)
        return _entry_rows(session, filters, conds, QueueEntry.enqueued_at)


CC_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("bucket", _l("Period"), "text"),
    ("contacts", _l("Contacts"), "int"),
    ("answered", _l("Answered"), "int"),
    ("abandoned", _l("Abandoned"), "int"),
    ("abandon_rate", _l("Abandoned %"), "percent"),
    ("within_target", _l("Answered within target"), "int"),
    ("service_level", _l("Service level %"), "percent"),
    ("asa_seconds", _l("Avg. speed of answer (s)"), "seconds"),
    ("aht_seconds", _l("Avg. handle time (s)"), "seconds"),
    ("breached", _l("SLA breaches"), "int"),
)


WORK_STATES = ("busy", "wrap_up")
READY_STATES = ("available", "offered", "busy", "wrap_up")


class AgentReport:
    """Per agent: contacts handled, AHT, time logged in, on break, busy, and occupancy."""

    name = "agents"
    metrics: Mapping[str, Any] = {
        "handled": _l("Handled"),
        "occupancy": _l("Occupancy %"),
    }
    groups: Mapping[str, Any] = {"agent": _l("Agent")}

    @property
    def title(self) -> str:
        return str(_l("Agents"))

    def _agents(self, session: Session, filters: Filters) -> list[tuple[int, str]]:
        stmt = select(User.id, User.name).order_by(User.name, User.id)
        if filters.agent_id is not None:
            stmt = stmt.where(User.id == filters.agent_id)
        if filters.team_id is not None:
            stmt = stmt.where(
                User.id.in_(
                    select(team_members.c.user_id).where(team_members.c.team_id == filters.team_id)
                )
            )
        if filters.queue_id is not None:
            stmt = stmt.where(
                User.id.in_(
                    select(QueueMember.user_id).where(QueueMember.queue_id == filters.queue_id)
                )
            )
        return [(int(i), str(n)) for i, n in session.execute(stmt)]

    def _handled_conditions(
        self, filters: Filters, start: dt.datetime, end: dt.datetime
    ) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = [
            QueueEntry.answered_at >= start,
            QueueEntry.answered_at < end,
            QueueEntry.agent_id.is_not(None),
        ]
        if filters.queue_id is not None:
            conds.append(QueueEntry.queue_id == filters.queue_id)
        if filters.channel:
            conds.append(QueueEntry.channel == filters.channel)
        return conds

    def state_seconds(
        self, session: Session, user_ids: list[int], start: dt.datetime, end: dt.datetime
    ) -> dict[int, dict[str, float]]:
        """Seconds each agent spent in each state within ``[start, end)``.

        Three aggregate statements, whatever the number of agents: the changes inside the
        range summed in SQL; the first one of each agent, whose time before ``start`` is
        taken off; the last one before ``end``, whose state runs on to ``end``.
        """
        out: dict[int, dict[str, float]] = {u: defaultdict(float) for u in user_ids}
        if not user_ids or end <= start:
            return out
        c = AgentStateChange
        inside = and_(c.at >= start, c.at < end)
        for user_id, state, seconds in session.execute(
            select(c.user_id, c.from_state, func.sum(c.seconds_in_previous))
            .where(inside, c.user_id.in_(user_ids))
            .group_by(c.user_id, c.from_state)
        ):
            out[user_id][state] += float(seconds or 0)
        users = select(User.id).where(User.id.in_(user_ids)).subquery()
        c2 = aliased(AgentStateChange)
        first = (
            select(c2.id)
            .where(c2.user_id == users.c.id, c2.at >= start, c2.at < end)
            .order_by(c2.at, c2.id)
            .limit(1)
            .scalar_subquery()
        )
        last = (
            select(c2.id)
            .where(c2.user_id == users.c.id, c2.at < end)
            .order_by(c2.at.desc(), c2.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        ends = session.execute(select(users.c.id, first, last)).all()
        ids = {i for row in ends for i in row[1:] if i is not None}
        changes = {ch.id: ch for ch in session.scalars(select(c).where(c.id.in_(ids)))}
        for user_id, first_id, last_id in ends:
            if first_id is not None:
                ch = changes[first_id]
                before = ch.seconds_in_previous - (ch.at - start).total_seconds()
                if before > 0:
                    out[user_id][ch.from_state] -= before
            if last_id is not None:
                ch = changes[last_id]
                tail = (end - max(ch.at, start)).total_seconds()
                if tail > 0:
                    out[user_id][ch.to_state] += tail
        return out

    def _compute(self, session: Session, filters: Filters) -> list[dict[str, Any]]:
        period = filters.period
        dialect = _dialect(session)
        agents = self._agents(session, filters)
        ids = [a for a, _ in agents]
        handle = seconds_between(QueueEntry.finished_at, QueueEntry.answered_at, dialect)
        finished = QueueEntry.finished_at.is_not(None)
        handled: dict[int, tuple[int, float, int]] = {}
        if ids:
            for agent_id, n, handle_sum, n_finished in session.execute(
                select(
                    QueueEntry.agent_id,
                    func.count(),
                    func.sum(case((finished, handle), else_=None)),
                    _flag(finished),
                )
                .where(
                    *self._handled_conditions(filters, period.start, period.end),
                    QueueEntry.agent_id.in_(ids),
                )
                .group_by(QueueEntry.agent_id)
            ):
                handled[int(agent_id)] = (int(n), float(handle_sum or 0), int(n_finished or 0))
        end = min(period.end, _now(filters))
        states = self.state_seconds(session, ids, period.start, end)
        rows = []
        for agent_id, name in agents:
            n, handle_sum, n_finished = handled.get(agent_id, (0, 0.0, 0))
            s = states[agent_id]
            logged_in = sum(v for k, v in s.items() if k != "offline")
            if not n and logged_in <= 0:
                continue
            ready = sum(s.get(k, 0.0) for k in READY_STATES)
            work = sum(s.get(k, 0.0) for k in WORK_STATES)
            rows.append(
                {
                    "agent_id": agent_id,
                    "agent": name,
                    "handled": n,
                    "aht_seconds": _avg(handle_sum, n_finished),
                    "logged_in_seconds": round(logged_in),
                    "available_seconds": round(s.get("available", 0.0) + s.get("offered", 0.0)),
                    "busy_seconds": round(s.get("busy", 0.0)),
                    "wrap_up_seconds": round(s.get("wrap_up", 0.0)),
                    "break_seconds": round(s.get("break", 0.0)),
                    "occupancy": _pct(work, ready),
                }
            )
        return rows

    def run(self, session: Session, filters: Filters) -> ReportResult:
        metric = choose(filters.metric, self.metrics, "metric")
        rows = self._compute(session, filters)
        label = str(self.metrics[metric])
        return ReportResult(
            kind=self.name,
            title=self.title,
            chart=Chart(
                type=filters.chart,
                keys=[str(r["agent_id"]) for r in rows],
                labels=[r["agent"] for r in rows],
                series=[Series(metric, label, [r[metric] for r in rows])],
                metric=metric,
                metric_label=label,
                stacked=False,
            ),
            table=Table(columns=_columns(AGENT_COLUMNS), rows=rows),
            totals={
                "handled": sum(r["handled"] for r in rows),
                "logged_in_seconds": sum(r["logged_in_seconds"] for r in rows),
            },
        )

    def drill(self, session: Session, filters: Filters, bucket: str, series: str | None) -> Table:
        """The contacts an agent (``bucket`` = agent id) answered in the range."""
        try:
            agent_id = int(bucket)
        except ValueError:
            raise ReportError(f"not an agent: {bucket!r}") from None
        period = filters.period
        conds = [
            *self._handled_conditions(filters, period.start, period.end),
            QueueEntry.agent_id == agent_id,
        ]
        return _entry_rows(session, filters, conds, QueueEntry.answered_at)


AGENT_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("agent", _l("Agent"), "text"),
    ("handled", _l("Handled"), "int"),
    ("aht_seconds", _l("Avg. handle time (s)"), "seconds"),
    ("logged_in_seconds", _l("Logged in (s)"), "seconds"),
    ("available_seconds", _l("Available (s)"), "seconds"),
    ("busy_seconds", _l("Busy (s)"), "seconds"),
    ("wrap_up_seconds", _l("Wrap-up (s)"), "seconds"),
    ("break_seconds", _l("Break (s)"), "seconds"),
    ("occupancy", _l("Occupancy %"), "percent"),
)


PRIORITY_LABELS: dict[str, Any] = {
    "low": _l("Low"),
    "normal": _l("Normal"),
    "high": _l("High"),
    "urgent": _l("Urgent"),
}

_resolution_clock = aliased(SlaClock, name="resolution_clock")


class TicketReport:
    """Tickets per bucket (by priority): first response time and SLA breaches."""

    name = "tickets"
    metrics: Mapping[str, Any] = {
        "created": _l("Tickets created"),
        "responded": _l("Responded"),
        "response_breached": _l("First response late"),
        "sla_breached": _l("Resolution SLA breached"),
    }
    groups: Mapping[str, Any] = {"priority": _l("Priority")}
    filters = ("queue", "team", "agent")

    @property
    def title(self) -> str:
        return str(_l("E-mail and tickets"))

    def _stmt(self, stmt: Select[Any]) -> Select[Any]:
        return stmt.outerjoin(
            _resolution_clock,
            and_(
                _resolution_clock.ticket_id == Ticket.id,
                _resolution_clock.kind == "resolution",
            ),
        )

    def _predicates(self, now: dt.datetime) -> dict[str, ColumnElement[bool]]:
        return {
            "created": literal(True),
            "responded": Ticket.first_responded_at.is_not(None),
            "response_breached": or_(
                Ticket.first_responded_at > Ticket.first_response_due_at,
                and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due_at < now),
            ),
            "sla_breached": _resolution_clock.breached_at.is_not(None),
        }

    def _conditions(self, filters: Filters) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if filters.queue_id is not None:
            conds.append(Ticket.queue_id == filters.queue_id)
        if filters.team_id is not None:
            conds.append(Ticket.team_id == filters.team_id)
        if filters.agent_id is not None:
            conds.append(Ticket.assignee_id == filters.agent_id)
        return conds

    def run(self, session: Session, filters: Filters) -> ReportResult:
        metric = choose(filters.metric, self.metrics, "metric")
        period = filters.period
        dialect = _dialect(session)
        preds = self._predicates(_now(filters))
        slot = slot_expr(Ticket.created_at, dialect, period.slot_seconds).label("slot")
        first = seconds_between(Ticket.first_responded_at, Ticket.created_at, dialect)
        names = ("created", "responded", "response_breached", "sla_breached", "response_sum")
        stmt = self._stmt(select(Ticket)).with_only_columns(
            slot,
            Ticket.priority,
            func.count(),
            _flag(preds["responded"]),
            _flag(preds["response_breached"]),
            _flag(preds["sla_breached"]),
            func.sum(case((preds["responded"], first), else_=None)),
        )
        stmt = stmt.where(
            Ticket.created_at >= period.start,
            Ticket.created_at < period.end,
            *self._conditions(filters),
        ).group_by(slot, Ticket.priority)
        per_slot: dict[int, list[tuple[str, dict[str, float]]]] = defaultdict(list)
        for row in session.execute(stmt):
            values = {n: float(v or 0) for n, v in zip(names, row[2:], strict=True)}
            per_slot[int(row[0])].append((row[1], values))
        buckets = period.buckets()
        index = {b: i for i, b in enumerate(buckets)}
        by_bucket = [dict.fromkeys(names, 0.0) for _ in buckets]
        by_priority: dict[str, list[float]] = {}
        for start, groups in period.fold(per_slot).items():
            for items in groups:
                for priority, values in items:
                    for n in names:
                        by_bucket[index[start]][n] += values[n]
                    series = by_priority.setdefault(priority, [0.0] * len(buckets))
                    series[index[start]] += values[metric]
        order = list(PRIORITY_LABELS)
        labels = [period.label(b, filters.locale) for b in buckets]
        total = dict.fromkeys(names, 0.0)
        for values in by_bucket:
            for n in names:
                total[n] += values[n]
        return ReportResult(
            kind=self.name,
            title=self.title,
            chart=Chart(
                type=filters.chart,
                keys=[b.isoformat() for b in buckets],
                labels=labels,
                series=[
                    Series(p, str(PRIORITY_LABELS.get(p, p)), [int(v) for v in data])
                    for p, data in sorted(
                        by_priority.items(),
                        key=lambda kv: order.index(kv[0]) if kv[0] in order else 99,
                    )
                ],
                metric=metric,
                metric_label=str(self.metrics[metric]),
            ),
            table=Table(
                columns=_columns(TICKET_COLUMNS),
                rows=[
                    {"bucket": labels[i], "key": b.isoformat(), **self._figures(by_bucket[i])}
                    for i, b in enumerate(buckets)
                ],
            ),
            totals=self._figures(total),
        )

    @staticmethod
    def _figures(v: Mapping[str, float]) -> dict[str, Any]:
        return {
            "created": int(v["created"]),
            "responded": int(v["responded"]),
            "avg_first_response_seconds": _avg(v["response_sum"], int(v["responded"])),
            "response_breached": int(v["response_breached"]),
            "sla_breached": int(v["sla_breached"]),
        }

    def drill(self, session: Session, filters: Filters, bucket: str, series: str | None) -> Table:
        metric = choose(filters.metric, self.metrics, "metric")
        start, end = filters.period.bucket_bounds(bucket)
        dialect = _dialect(session)
        first = seconds_between(Ticket.first_responded_at, Ticket.created_at, dialect)
        assignee = aliased(User, name="assignee")
        conds = [
            Ticket.created_at >= start,
            Ticket.created_at < end,
            self._predicates(_now(filters))[metric],
            *self._conditions(filters),
        ]
        if series:
            conds.append(Ticket.priority == series)
        stmt = (
            self._stmt(select(Ticket))
            .outerjoin(Customer, Customer.id == Ticket.customer_id)
            .outerjoin(assignee, assignee.id == Ticket.assignee_id)
            .with_only_columns(
                Ticket.id,
                Ticket.number,
                Ticket.created_at,
                Ticket.subject,
                Ticket.priority,
                Customer.display_name,
                assignee.name,
                first,
                _resolution_clock.breached_at,
            )
            .where(*conds)
            .order_by(Ticket.created_at, Ticket.id)
            .limit(DRILL_LIMIT)
        )
        rows = [
            {
                "id": r[0],
                "number": r[1] or "",
                "created_at": r[2],
                "subject": r[3],
                "priority": str(PRIORITY_LABELS.get(r[4], r[4])),
                "customer": r[5] or "",
                "assignee": r[6] or "",
                "first_response_seconds": round(float(r[7])) if r[7] is not None else None,
                "sla_breached": bool(r[8]),
            }
            for r in session.execute(stmt)
        ]
        return Table(columns=_columns(TICKET_DRILL_COLUMNS), rows=rows)


TICKET_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("bucket", _l("Period"), "text"),
    ("created", _l("Tickets created"), "int"),
    ("responded", _l("Responded"), "int"),
    ("avg_first_response_seconds", _l("Avg. first response (s)"), "seconds"),
    ("response_breached", _l("First response late"), "int"),
    ("sla_breached", _l("Resolution SLA breached"), "int"),
)
TICKET_DRILL_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("id", _l("Ticket"), "int"),
    ("number", _l("Number"), "text"),
    ("created_at", _l("Created"), "datetime"),
    ("subject", _l("Subject"), "text"),
    ("priority", _l("Priority"), "text"),
    ("customer", _l("Customer"), "text"),
    ("assignee", _l("Assignee"), "text"),
    ("first_response_seconds", _l("First response (s)"), "seconds"),
    ("sla_breached", _l("SLA breached"), "text"),
)

register(ContactCentreReport())
register(AgentReport())
register(TicketReport())
