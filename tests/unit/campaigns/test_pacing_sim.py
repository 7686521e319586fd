"""A short run of the dialer simulator (bench/dialer_sim.py) driving the real pacing
module: a few simulated minutes, checked for the cap and for the pacer actually going
predictive. The full benchmark (30 campaign-days) is `bench/dialer_sim.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import dialer_sim as sim

from campaigns.pacing import Mode, PacingConfig


@pytest.mark.parametrize("seed", [11, 12])
def test_simulated_minutes_keep_abandonment_under_the_cap(seed: int) -> None:
    model = sim.Model(hours=25 / 60)
    config = PacingConfig()
    ours = sim.OursStrategy(Mode.PREDICTIVE, 2.0, config, 900.0)
    day = sim.run_day(model, seed, ours)
    progressive = sim.run_day(model, seed, sim.OursStrategy(Mode.PROGRESSIVE, 2.0, config, 900.0))
    assert day.live > 100
    assert day.abandoned <= config.cap * day.live
    assert ours.bases.get("warming_up", 0) > 0  # it started progressive...
    assert ours.bases.get("predictive", 0) > 0  # ... and went predictive with data
    assert progressive.abandoned == 0
    assert day.talk_min_per_agent_hour > progressive.talk_min_per_agent_hour
