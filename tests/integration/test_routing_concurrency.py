"""Several routers at once on PostgreSQL (SELECT … FOR UPDATE SKIP LOCKED): 200
interactions, 20 agents with mixed skills, 4 router threads, agents answering in their own
threads. Nothing is given twice, nobody goes over capacity, everyone gets only what they
are skilled for."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import text

from crm_core.models import Interaction, User
from hub.agents import do_set_agent_state
from hub.db import db as database
from hub.models import AgentSkill, Offer, QueueEntry, QueueMember, QueueSkill
from hub.routing import (
    DEFAULT_CAPACITY,
    do_accept_offer,
    do_create_queue,
    do_enqueue_interaction,
    do_wrap_up,
    route_pending,
)
from hub.skills import do_set_agent_skill
from tests.factories import make_user

N_INTERACTIONS = 200
N_AGENTS = 20
N_ROUTERS = 4
N_ANSWERERS = 4
DEADLINE_ROUNDS = 4000


def test_four_routers_never_double_assign(app, postgres_only):
    # Everything runs outside an app context on purpose: no after-commit routing kick, no
    # real-time fan-out; only the router threads below assign work.
    maker = database.sessionmaker_for(app)
    rng = random.Random(20261123)
    with maker() as s, s.begin():
        queues = [
            do_create_queue(
                s,
                name="PL calls",
                channels=["voice"],
                skills={"polish": 2},
                wrap_up_seconds=0,
                offer_timeout_seconds=3600,
            ),
            do_create_queue(
                s,
                name="EN mail",
                channels=["email"],
                skills={"english": 3},
                wrap_up_seconds=0,
                offer_timeout_seconds=3600,
            ),
            do_create_queue(
                s,
                name="Billing",
                channels=["voice", "email"],
                skills={"billing": 1, "polish": 1},
                wrap_up_seconds=0,
                offer_timeout_seconds=3600,
            ),
        ]
        agents = [make_user(s) for _ in range(N_AGENTS)]
        for i, agent in enumerate(agents):
            for queue in queues:
                s.add(QueueMember(queue_id=queue.id, user_id=agent.id))
            # Mixed skills; the first three agents make sure every queue has someone.
            levels = {
                "polish": rng.randint(0, 5),
                "english": rng.randint(0, 5),
                "billing": rng.randint(0, 2),
            }
            if i < 3:
                levels[("polish", "english", "billing")[i]] = 5
                levels["polish"] = max(levels["polish"], 2)
            for skill, level in levels.items():
                if level:
                    do_set_agent_skill(s, agent, skill, level)
        for n in range(N_INTERACTIONS):
            queue = queues[n % 3]
            channel = (
                "voice"
                if queue.name == "PL calls"
                else ("email" if queue.name == "EN mail" else rng.choice(["voice", "email"]))
            )
            interaction = Interaction(
                channel=channel,
                direction="inbound",
                status="new",
                external_id=f"load-{n}",
                from_address=f"+4860000{n:04d}",
            )
            s.add(interaction)
            s.flush()
            do_enqueue_interaction(s, interaction, queue, priority=rng.randint(0, 3))
        for agent in agents:
            do_set_agent_state(s, agent, "available", actor=agent)
        agent_ids = [a.id for a in agents]

    stop = threading.Event()
    errors: list[BaseException] = []
    violations: list[Any] = []
    passes = Counter()

    def router(n: int) -> None:
        try:
            for _ in range(DEADLINE_ROUNDS):
                if stop.is_set():
                    return
                with maker() as s, s.begin():
                    made = route_pending(s, limit=10)
                passes[n] += 1
                if not made:
                    stop.wait(0.01)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            stop.set()

    def answerer(mine: list[int]) -> None:
        local = random.Random(mine[0])
        try:
            while not stop.is_set():
                worked = False
                for agent_id in mine:
                    with maker() as s, s.begin():
                        agent = s.get(User, agent_id)
                        offer = s.scalar(
                            Offer.__table__.select()
                            .with_only_columns(Offer.interaction_id)
                            .where(Offer.agent_id == agent_id, Offer.status == "pending")
                        )
                        if offer is not None:
                            do_accept_offer(s, agent, offer)
                            worked = True
                    with maker() as s, s.begin():
                        agent = s.get(User, agent_id)
                        held = s.scalars(
                            QueueEntry.__table__.select()
                            .with_only_columns(QueueEntry.interaction_id)
                            .where(QueueEntry.agent_id == agent_id, QueueEntry.state == "active")
                        ).all()
                        for interaction_id in held:
                            if local.random() < 0.5:
                                do_wrap_up(s, agent, interaction_id, "done")
                                worked = True
                if not worked:
                    stop.wait(0.005)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            stop.set()

    def checker() -> None:
        # One statement = one snapshot: the load of every agent at one instant.
        query = text(
            "SELECT agent_id, channel, count(*) FROM queue_entries "
            "WHERE state IN ('offered', 'active', 'wrap_up') AND agent_id IS NOT NULL "
            "GROUP BY agent_id, channel"
        )
        pending = text(
            "SELECT agent_id, count(*) FROM offers WHERE status = 'pending' "
            "GROUP BY agent_id HAVING count(*) > 1"
        )
        while not stop.is_set():
            with maker() as s, s.begin():
                load: dict[int, Counter[str]] = defaultdict(Counter)
                for agent_id, channel, count in s.execute(query):
                    load[agent_id][channel] = count
                    if count > DEFAULT_CAPACITY[channel]:
                        violations.append(("capacity", agent_id, channel, count))
                for agent_id, channels in load.items():
                    if channels["voice"] > 1:
                        violations.append(("voice", agent_id, dict(channels)))
                violations.extend(("two offers", *row) for row in s.execute(pending))
            stop.wait(0.002)

    threads = [threading.Thread(target=router, args=(n,)) for n in range(N_ROUTERS)]
    chunks = [agent_ids[i::N_ANSWERERS] for i in range(N_ANSWERERS)]
    threads += [threading.Thread(target=answerer, args=(c,)) for c in chunks]
    threads.append(threading.Thread(target=checker))
    for t in threads:
        t.start()
    try:
        for _ in range(6000):
            with maker() as s:
                left = s.execute(
                    text("SELECT count(*) FROM queue_entries WHERE state <> 'done'")
                ).scalar_one()
            if left == 0 or errors:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert not violations, violations[:10]
    assert all(passes[n] > 0 for n in range(N_ROUTERS))

    with maker() as s:
        entries = s.query(QueueEntry).all()
        assert len(entries) == N_INTERACTIONS
        assert {e.state for e in entries} == {"done"}
        offers = s.query(Offer).order_by(Offer.created_at, Offer.id).all()
        accepted = Counter(o.interaction_id for o in offers if o.status == "accepted")
        assert set(accepted.values()) == {1} and len(accepted) == N_INTERACTIONS
        assert {o.status for o in offers} <= {"accepted"}, Counter(o.status for o in offers)
        required: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for row in s.query(QueueSkill).all():
            required[row.queue_id].append((row.skill_id, row.min_level))
        skills = {(r.user_id, r.skill_id): r.level for r in s.query(AgentSkill).all()}
        for offer in offers:
            for skill_id, level in required[offer.queue_id]:
                assert skills.get((offer.agent_id, skill_id), 0) >= level, offer.id
        by_entry = {e.interaction_id: e for e in entries}
        for offer in offers:
            assert by_entry[offer.interaction_id].agent_id == offer.agent_id
        assert len({o.agent_id for o in offers}) > 3  # the work was spread
