"""Skills and agents' skill levels (what routing matches against a queue's needs)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import N_, ValidationFailed
from crm_core.models import User
from crm_core.services import audit
from hub.models import AgentSkill, Skill


def get_or_create_skill(session: Session, name: str) -> Skill:
    name = name.strip()
    if not name or len(name) > 80:
        raise ValidationFailed(N_("a skill name is 1 to 80 characters"), field="name")
    skill = session.scalar(select(Skill).where(Skill.name == name))
    if skill is None:
        skill = Skill(name=name)
        session.add(skill)
        session.flush()
    return skill


def do_set_agent_skill(
    session: Session, agent: User, skill_name: str, level: int, *, actor: User | None = None
) -> AgentSkill | None:
    """Give ``agent`` the skill at ``level`` (1 to 10); level 0 removes it."""
    if not 0 <= level <= 10:
        raise ValidationFailed(N_("a skill level is 0 (remove) to 10"), field="level")
    skill = get_or_create_skill(session, skill_name)
    row = session.get(AgentSkill, (agent.id, skill.id))
    before = row.level if row is not None else 0
    if level == 0:
        if row is not None:
            session.delete(row)
        row = None
    elif row is None:
        row = AgentSkill(user_id=agent.id, skill_id=skill.id, level=level)
        session.add(row)
    else:
        row.level = level
    audit.record(
        session,
        user_id=actor.id if actor is not None else None,
        action="agent.skill_set",
        entity_type="user",
        entity_id=agent.id,
        before={"skill": skill.name, "level": before},
        after={"skill": skill.name, "level": level},
    )
    session.flush()
    return row


def agent_skills(session: Session, agent_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Skill.name, AgentSkill.level)
        .join(AgentSkill, AgentSkill.skill_id == Skill.id)
        .where(AgentSkill.user_id == agent_id)
        .order_by(Skill.name)
    )
    return {name: int(level) for name, level in rows}
