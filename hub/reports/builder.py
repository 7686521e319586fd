"""Entity reports of the report wizard: count interactions, tickets or customers per local
bucket, split by one field (the series), with the table columns the user chose.

The customer-base report (``customers``: new customers per month by class or tag) is one
of these with fixed choices. A saved report (``hub/reports/saved.py``) stores the
wizard's choices and runs through the same code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from crm_core.models import Customer, Interaction, Tag, Team, Ticket, User
from crm_core.models.customers import customer_tags
from crm_core.models.users import team_members
from hub.models import Queue
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
from hub.reports.contact_centre import CHANNEL_LABELS, DRILL_LIMIT, PRIORITY_LABELS
from hub.reports.periods import report_dialect, slot_expr

NONE_KEY = "-"  # the series of rows whose field is empty

_agent = aliased(User, name="agent_user")
_assignee = aliased(User, name="assignee_user")
_queue = aliased(Queue, name="report_queue")
_team = aliased(Team, name="report_team")
_customer = aliased(Customer, name="report_customer")

LABELS: dict[str, Mapping[str, Any]] = {
    "channel": CHANNEL_LABELS,
    "priority": PRIORITY_LABELS,
    "direction": {"inbound": _l("inbound"), "outbound": _l("outbound"), "internal": _l("internal")},
    "kind": {"person": _l("Person"), "organisation": _l("Organisation")},
    "ticket_status": {
        "new": _l("New"),
        "open": _l("Open"),
        "pending": _l("Pending"),
        "solved": _l("Solved"),
        "closed": _l("Closed"),
    },
    "vip": {"True": _l("VIP"), "False": _l("Not VIP"), "1": _l("VIP"), "0": _l("Not VIP")},
}


@dataclass(frozen=True)
class Field:
    label: Any
    expr: Any
    kind: str = "text"
    labels: str | None = None  # key of LABELS translating the raw values


@dataclass(frozen=True)
class Entity:
    name: str
    label: Any
    model: Any
    time: Any
    series: Mapping[str, Field]
    columns: Mapping[str, Field]
    default_columns: tuple[str, ...]
    joins: Callable[[Select[Any]], Select[Any]]
    conditions: Callable[[Filters], list[ColumnElement[bool]]]


def _interaction_joins(stmt: Select[Any]) -> Select[Any]:
    return (
        stmt.outerjoin(_customer, _customer.id == Interaction.customer_id)
        .outerjoin(_agent, _agent.id == Interaction.agent_id)
        .outerjoin(_queue, _queue.id == Interaction.queue_id)
    )


def _interaction_conditions(f: Filters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.channel:
        conds.append(Interaction.channel == f.channel)
    if f.queue_id is not None:
        conds.append(Interaction.queue_id == f.queue_id)
    if f.agent_id is not None:
        conds.append(Interaction.agent_id == f.agent_id)
    if f.team_id is not None:
        conds.append(
            Interaction.agent_id.in_(
                select(team_members.c.user_id).where(team_members.c.team_id == f.team_id)
            )
        )
    return conds


def _ticket_joins(stmt: Select[Any]) -> Select[Any]:
    return (
        stmt.outerjoin(_customer, _customer.id == Ticket.customer_id)
        .outerjoin(_assignee, _assignee.id == Ticket.assignee_id)
        .outerjoin(_team, _team.id == Ticket.team_id)
    )


def _ticket_conditions(f: Filters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.queue_id is not None:
        conds.append(Ticket.queue_id == f.queue_id)
    if f.team_id is not None:
        conds.append(Ticket.team_id == f.team_id)
    if f.agent_id is not None:
        conds.append(Ticket.assignee_id == f.agent_id)
    return conds


_tag = aliased(Tag, name="report_tag")
_customer_tag = customer_tags.alias("report_customer_tag")


def _customer_joins(stmt: Select[Any]) -> Select[Any]:
    return stmt


def _customer_conditions(f: Filters) -> list[ColumnElement[bool]]:
    return [Customer.merged_into_id.is_(None)]


ENTITIES: dict[str, Entity] = {
    "interactions": Entity(
        name="interactions",
        label=_l("Interactions"),
        model=Interaction,
        time=Interaction.created_at,
        series={
            "channel": Field(_l("Channel"), Interaction.channel, labels="channel"),
            "direction": Field(_l("Direction"), Interaction.direction, labels="direction"),
            "status": Field(_l("Status"), Interaction.status),
            "queue": Field(_l("Queue"), _queue.name),
            "agent": Field(_l("Agent"), _agent.name),
        },
        columns={
            "id": Field(_l("Interaction"), Interaction.id, "int"),
            "created_at": Field(_l("Created"), Interaction.created_at, "datetime"),
            "channel": Field(_l("Channel"), Interaction.channel, labels="channel"),
            "direction": Field(_l("Direction"), Interaction.direction, labels="direction"),
            "status": Field(_l("Status"), Interaction.status),
            "customer": Field(_l("Customer"), _customer.display_name),
            "from_address": Field(_l("From"), Interaction.from_address),
            "subject": Field(_l("Subject"), Interaction.subject),
            "agent": Field(_l("Agent"), _agent.name),
            "queue": Field(_l("Queue"), _queue.name),
            "disposition": Field(_l("Disposition"), Interaction.disposition),
        },
        default_columns=("id", "created_at", "channel", "customer", "subject", "agent"),
        joins=_interaction_joins,
        conditions=_interaction_conditions,
    ),
    "tickets": Entity(
        name="tickets",
        label=_l("Tickets"),
        model=Ticket,
        time=Ticket.created_at,
        series={
            "status": Field(_l("Status"), Ticket.status, labels="ticket_status"),
            "priority": Field(_l("Priority"), Ticket.priority, labels="priority"),
            "ticket_type": Field(_l("Type"), Ticket.ticket_type),
            "team": Field(_l("Team"), _team.name),
            "assignee": Field(_l("Assignee"), _assignee.name),
        },
        columns={
            "id": Field(_l("Ticket"), Ticket.id, "int"),
            "number": Field(_l("Number"), Ticket.number),
            "created_at": Field(_l("Created"), Ticket.created_at, "datetime"),
            "subject": Field(_l("Subject"), Ticket.subject),
            "status": Field(_l("Status"), Ticket.status, labels="ticket_status"),
            "priority": Field(_l("Priority"), Ticket.priority, labels="priority"),
            "ticket_type": Field(_l("Type"), Ticket.ticket_type),
            "customer": Field(_l("Customer"), _customer.display_name),
            "assignee": Field(_l("Assignee"), _assignee.name),
            "team": Field(_l("Team"), _team.name),
            "first_responded_at": Field(
                _l("First response"), Ticket.first_responded_at, "datetime"
            ),
        },
        default_columns=("number", "created_at", "subject", "status", "priority", "customer"),
        joins=_ticket_joins,
        conditions=_ticket_conditions,
    ),
    "customers": Entity(
        name="customers",
        label=_l("Customers"),
        model=Customer,
        time=Customer.created_at,
        series={
            "customer_class": Field(_l("Class"), Customer.customer_class),
            "tag": Field(_l("Tag"), _tag.name),
            "kind": Field(_l("Kind"), Customer.kind, labels="kind"),
            "vip": Field(_l("VIP"), Customer.vip, labels="vip"),
        },
        columns={
            "id": Field(_l("Customer"), Customer.id, "int"),
            "display_name": Field(_l("Name"), Customer.display_name),
            "kind": Field(_l("Kind"), Customer.kind, labels="kind"),
            "customer_class": Field(_l("Class"), Customer.customer_class),
            "vip": Field(_l("VIP"), Customer.vip, labels="vip"),
            "city": Field(_l("City"), Customer.city),
            "country": Field(_l("Country"), Customer.country),
            "created_at": Field(_l("Created"), Customer.created_at, "datetime"),
        },
        default_columns=("id", "display_name", "customer_class", "created_at"),
        joins=_customer_joins,
        conditions=_customer_conditions,
    ),
}


def entity(name: str | None) -> Entity:
    return ENTITIES[choose(name, ENTITIES, "entity")]


def _with_series(ent: Entity, stmt: Select[Any], series: str) -> Select[Any]:
    stmt = ent.joins(stmt)
    if ent.name == "customers" and series == "tag":
        stmt = stmt.outerjoin(_customer_tag, _customer_tag.c.customer_id == Customer.id).outerjoin(
            _tag, _tag.id == _customer_tag.c.tag_id
        )
    return stmt


def _value_label(field: Field, value: Any) -> str:
    if value is None or value == "":
        return str(_l("(none)"))
    if field.labels:
        label = LABELS[field.labels].get(str(value))
        if label is not None:
            return str(label)
    return str(value)


def _series_key(value: Any) -> str:
    return NONE_KEY if value is None or value == "" else str(value)


def _series_condition(field: Field, key: str) -> ColumnElement[bool]:
    if key == NONE_KEY:
        cond: ColumnElement[bool] = field.expr.is_(None)
        if field.kind == "text":
            cond = cond | (field.expr == "")
        return cond
    if field.labels == "vip":
        return field.expr.is_(key in ("True", "1"))
    return field.expr == key


def _columns_of(ent: Entity, wanted: Any) -> list[str]:
    if not wanted:
        return list(ent.default_columns)
    keys = wanted.split(",") if isinstance(wanted, str) else list(wanted)
    unknown = [k for k in keys if k not in ent.columns]
    if unknown:
        raise ReportError(f"unknown column: {unknown[0]!r}")
    return keys


class EntityReport:
    """The wizard's report: ``options['entity']`` chooses what is counted."""

    metrics: Mapping[str, Any] = {"count": _l("Count")}

    def __init__(
        self, name: str = "entity", fixed_entity: str | None = None, title: Any = None
    ) -> None:
        self.name = name
        self.fixed_entity = fixed_entity
        self._title = title or _l("Custom report")

    @property
    def groups(self) -> Mapping[str, Any]:
        if not self.fixed_entity:
            return {}
        return {k: f.label for k, f in entity(self.fixed_entity).series.items()}

    @property
    def filters(self) -> tuple[str, ...]:
        """The filters that apply (the page hides the others)."""
        if self.fixed_entity == "customers":
            return ()
        return ("queue", "team", "agent", "channel")

    @property
    def title(self) -> str:
        return str(self._title)

    def _entity(self, filters: Filters) -> Entity:
        return entity(self.fixed_entity or filters.options.get("entity"))

    def run(self, session: Session, filters: Filters) -> ReportResult:
        ent = self._entity(filters)
        series_key = choose(filters.group, ent.series, "group")
        field = ent.series[series_key]
        period = filters.period
        dialect = report_dialect(session)
        slot = slot_expr(ent.time, dialect, period.slot_seconds).label("slot")
        value = field.expr.label("series")
        stmt = (
            _with_series(ent, select(ent.model), series_key)
            .with_only_columns(slot, value, func.count())
            .where(ent.time >= period.start, ent.time < period.end, *ent.conditions(filters))
            .group_by(slot, value)
        )
        per_slot: dict[int, list[tuple[Any, int]]] = defaultdict(list)
        for s, v, n in session.execute(stmt):
            per_slot[int(s)].append((v, int(n)))
        buckets = period.buckets()
        index = {b: i for i, b in enumerate(buckets)}
        data: dict[str, list[int]] = {}
        names: dict[str, str] = {}
        for start, groups in period.fold(per_slot).items():
            for items in groups:
                for v, n in items:
                    key = _series_key(v)
                    names[key] = _value_label(field, v)
                    data.setdefault(key, [0] * len(buckets))[index[start]] += n
        keys = sorted(data, key=lambda k: (k == NONE_KEY, names[k].casefold()))
        labels = [period.label(b, filters.locale) for b in buckets]
        columns = [Column("bucket", str(_l("Period")))]
        columns += [Column(k, names[k], "int") for k in keys]
        columns.append(Column("total", str(_l("Total")), "int"))
        rows = []
        for i, b in enumerate(buckets):
            row: dict[str, Any] = {"bucket": labels[i], "key": b.isoformat()}
            for k in keys:
                row[k] = data[k][i]
            row["total"] = sum(data[k][i] for k in keys)
            rows.append(row)
        return ReportResult(
            kind=self.name,
            title=f"{self.title}: {ent.label}" if not self.fixed_entity else self.title,
            chart=Chart(
                type=filters.chart,
                keys=[b.isoformat() for b in buckets],
                labels=labels,
                series=[Series(k, names[k], data[k]) for k in keys],
                metric="count",
                metric_label=str(ent.label),
            ),
            table=Table(columns=columns, rows=rows),
            totals={"count": sum(sum(v) for v in data.values())},
        )

    def drill(self, session: Session, filters: Filters, bucket: str, series: str | None) -> Table:
        ent = self._entity(filters)
        series_key = choose(filters.group, ent.series, "group")
        start, end = filters.period.bucket_bounds(bucket)
        keys = _columns_of(ent, filters.options.get("columns"))
        conds = [ent.time >= start, ent.time < end, *ent.conditions(filters)]
        if series is not None:
            conds.append(_series_condition(ent.series[series_key], series))
        pk = ent.model.id
        stmt = (
            _with_series(ent, select(ent.model), series_key)
            .with_only_columns(*(ent.columns[k].expr for k in keys))
            .where(*conds)
            .order_by(ent.time, pk)
            .limit(DRILL_LIMIT)
        )
        rows = []
        for r in session.execute(stmt):
            row = {}
            for k, v in zip(keys, r, strict=True):
                f = ent.columns[k]
                row[k] = _value_label(f, v) if f.labels and v is not None else v
            rows.append(row)
        return Table(
            columns=[Column(k, str(ent.columns[k].label), ent.columns[k].kind) for k in keys],
            rows=rows,
        )


register(EntityReport())
register(EntityReport("customers", "customers", _l("Customer base")))
