"""``switchboard simulate form``: a submission goes through intake, is queued, and the
running server's tick offers it (so the offer is emitted where the browsers are)."""

from __future__ import annotations

from hub.cli import main
from tests.routing_helpers import available, make_agent, make_queue, pending_offer


def test_simulate_form_reaches_an_available_agent(app, runner, session):
    queue = make_queue(session, "Web", channels=["webform"])
    agent = make_agent(session, (queue,))
    session.commit()
    available(session, agent)
    result = runner.invoke(
        main,
        [
            "simulate",
            "form",
            "--from",
            "Jan.Kowalski@Example.PL",
            "--to",
            "contact",
            "--subject",
            "Call me",
            "--body",
            "About my order 42",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "form received as interaction" in result.output
    iid = int(result.output.split("interaction ")[1].split()[0])
    # Without Redis the CLI's own emits would reach nobody: the server's tick routes it.
    assert "the running server offers it" in result.output
    assert pending_offer(session, iid) is None
    from hub.tasks import run_tick

    with app.app_context():
        assert run_tick()["offers"] == 1
    offer = pending_offer(session, iid)
    assert offer is not None and offer.agent_id == agent.id


def test_simulate_form_bad_input_is_one_line(runner):
    result = runner.invoke(main, ["simulate", "form", "--to", "x" * 400, "--from", "a@b.pl"])
    # A long form name is clipped by intake, not a crash.
    assert result.exit_code == 0, result.output
