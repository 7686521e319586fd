"""The pacing module on deterministic snapshots: no database, no clock."""

from __future__ import annotations

import random

import pytest

from campaigns.pacing import (
    AbandonmentCounts,
    AgentActivity,
    AgentView,
    CallStatistics,
    CallView,
    Decision,
    Histogram,
    Mode,
    Pacer,
    PacingConfig,
    PacingState,
    controller_theta,
    decide,
)

READY = AgentView(AgentActivity.READY, 5.0)


def talking(elapsed: float) -> AgentView:
    return AgentView(AgentActivity.TALKING, elapsed)


def wrapping(elapsed: float) -> AgentView:
    return AgentView(AgentActivity.WRAP_UP, elapsed)


def learned_stats(dials: int = 2000, seed: int = 7) -> CallStatistics:
    """Statistics as the issue's model would produce them: 5 % busy after 3 s, 30 % answered
    after a log-normal ring (85 % of those people), the rest ring out at 25 s; talk around
    120 s, wrap-up 15 s."""
    rng = random.Random(seed)
    stats = CallStatistics()
    for _ in range(dials):
        u = rng.random()
        if u < 0.05:
            stats.record_dial(3.0, live=False)
        elif u < 0.35:
            ring = min(24.0, rng.lognormvariate(1.97, 0.47))
            live = rng.random() >= 0.15
            stats.record_dial(ring, live=live, machine=not live)
        else:
            stats.record_dial(25.0, live=False)
    for _ in range(400):
        stats.record_talk(rng.lognormvariate(4.68, 0.47))
        stats.record_wrap(15.0)
    return stats


def state(
    mode: Mode,
    agents: list[AgentView],
    calls: list[CallView] | None = None,
    stats: CallStatistics | None = None,
    ab: AbandonmentCounts | None = None,
) -> PacingState:
    return PacingState(
        mode, agents, calls or [], ab or AbandonmentCounts(), stats or learned_stats()
    )


def test_preview_never_dials() -> None:
    for agents in ([READY] * 10, [READY, talking(100.0)], []):
        d = decide(state(Mode.PREVIEW, agents))
        assert d.calls == 0 and d.basis == "preview"


@pytest.mark.parametrize(
    ("ready", "busy", "in_flight", "expected"),
    [(0, 5, 0, 0), (3, 2, 0, 3), (3, 2, 2, 1), (3, 0, 3, 0), (2, 0, 5, 0), (10, 10, 4, 6)],
)
def test_progressive_never_exceeds_available_agents(
    ready: int, busy: int, in_flight: int, expected: int
) -> None:
    agents = [READY] * ready + [talking(60.0)] * busy
    calls = [CallView(4.0)] * in_flight
    d = decide(state(Mode.PROGRESSIVE, agents, calls))
    assert d.calls == expected
    assert in_flight + d.calls <= max(ready, in_flight)


def test_predictive_is_progressive_without_enough_data() -> None:
    stats = CallStatistics()
    for _ in range(20):  # 20 live answers: fewer than the 50 it needs
        stats.record_dial(8.0, live=True)
        stats.record_talk(100.0)
    agents = [READY] * 4 + [talking(110.0)] * 16
    d = decide(state(Mode.PREDICTIVE, agents, [CallView(3.0)], stats))
    assert d.basis == "warming_up"
    assert d.calls == 3
    # With nothing measured at all, the same.
    d = decide(state(Mode.PREDICTIVE, agents, [], CallStatistics()))
    assert (d.basis, d.calls) == ("warming_up", 4)


def test_predictive_places_more_calls_than_available_agents() -> None:
    agents = [READY] * 2 + [talking(100.0 + 5 * i) for i in range(14)] + [wrapping(5.0)] * 4
    d = decide(state(Mode.PREDICTIVE, agents))
    assert d.basis == "predictive"
    assert d.calls > 2
    # ... but not without bound: never more lines than max_lines_per_agent * agents.
    assert d.calls <= PacingConfig().max_lines_per_agent * len(agents)


def test_predictive_counts_calls_in_flight_and_agents_about_to_be_free() -> None:
    agents = [talking(30.0)] * 10
    none_in_flight = decide(state(Mode.PREDICTIVE, agents)).calls
    many_in_flight = decide(state(Mode.PREDICTIVE, agents, [CallView(5.0)] * 12)).calls
    assert many_in_flight < none_in_flight or none_in_flight == 0
    # Agents finishing their wrap-up in a second or two justify calls now; agents who
    # just started talking do not.
    soon = decide(state(Mode.PREDICTIVE, [wrapping(13.0)] * 10)).calls
    just_started = decide(state(Mode.PREDICTIVE, [talking(1.0)] * 10)).calls
    assert soon > just_started


def test_predictive_backs_off_when_abandonment_is_over_the_cap() -> None:
    agents = [READY] * 2 + [talking(100.0)] * 14 + [wrapping(10.0)] * 4
    calm = decide(state(Mode.PREDICTIVE, agents, ab=AbandonmentCounts(400, 4, 100, 1, 400, 4)))
    today_over = decide(
        state(Mode.PREDICTIVE, agents, ab=AbandonmentCounts(400, 14, 100, 1, 400, 14))
    )
    recent_spike = decide(
        state(Mode.PREDICTIVE, agents, ab=AbandonmentCounts(400, 10, 100, 7, 400, 10))
    )
    month_over = decide(
        state(Mode.PREDICTIVE, agents, ab=AbandonmentCounts(100, 0, 50, 0, 9000, 300))
    )
    assert calm.basis == "predictive" and calm.calls > 2
    for d in (today_over, recent_spike, month_over):
        assert d.basis == "backing_off"
        assert d.calls == 2  # progressive: one per ready agent


def test_controller_cuts_fast_and_raises_slowly() -> None:
    cfg = PacingConfig()
    on_target = controller_theta(AbandonmentCounts(1000, 20, 300, 6, 1000, 20), cfg)
    assert on_target == pytest.approx(cfg.theta0)
    under = controller_theta(AbandonmentCounts(1000, 0, 300, 0, 1000, 0), cfg)
    over = controller_theta(AbandonmentCounts(1000, 28, 300, 8, 1000, 28), cfg)
    assert over < on_target < under
    # Relative errors are clipped asymmetrically: twice the target (error -1) cuts
    # deeper than nothing at all (error +1, clipped to +0.5) raises.
    over = controller_theta(AbandonmentCounts(1000, 40, 300, 12, 1000, 40), cfg)
    assert on_target / over > under / on_target
    # Little data, little trust: 10 live answers without abandonment barely move it.
    early = controller_theta(AbandonmentCounts(10, 0, 10, 0, 10, 0), cfg)
    assert early < on_target * 1.1


def test_rising_abandonment_lowers_the_number_of_calls() -> None:
    agents = [READY] * 2 + [talking(100.0 + 7 * i) for i in range(14)] + [wrapping(8.0)] * 4
    calls = [
        decide(
            state(Mode.PREDICTIVE, agents, ab=AbandonmentCounts(600, a, 200, a // 3, 600, a))
        ).calls
        for a in (0, 6, 12, 15)
    ]
    assert calls == sorted(calls, reverse=True)
    assert calls[0] > calls[-1]


def test_histogram_counts_and_cdf() -> None:
    h = Histogram(10.0, 1.0)
    h.extend([1.5, 2.5, 2.5, 9.0, 50.0])
    assert h.total == 5
    assert h.count_below(0.0) == 0.0
    assert h.count_below(2.0) == 1.0
    assert h.count_below(3.0) == 3.0
    assert h.cdf(100.0) == 1.0
    assert h.mean == pytest.approx((1.5 + 2.5 + 2.5 + 9.0 + 50.0) / 5)


class FakeWorld:
    """A telephony double for the Pacer driver: a fixed snapshot, records placements."""

    def __init__(self, snapshot: PacingState) -> None:
        self.snapshot_value = snapshot
        self.placed: list[tuple[int, float]] = []
        self.asked_at: list[float] = []

    def snapshot(self, now: float) -> PacingState:
        self.asked_at.append(now)
        return self.snapshot_value

    def place_calls(self, count: int, now: float) -> int:
        self.placed.append((count, now))
        return count


def test_pacer_uses_the_injected_clock_and_telephony() -> None:
    world = FakeWorld(state(Mode.PROGRESSIVE, [READY] * 3, [CallView(1.0)]))
    pacer = Pacer(world, clock=lambda: 1234.5)
    decision, placed = pacer.step()
    assert isinstance(decision, Decision)
    assert (decision.calls, placed) == (2, 2)
    assert world.asked_at == [1234.5] and world.placed == [(2, 1234.5)]
    world.snapshot_value = state(Mode.PREVIEW, [READY] * 3)
    assert pacer.step()[1] == 0
    assert world.placed == [(2, 1234.5)]
