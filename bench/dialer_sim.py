"""Dialer simulator: a discrete-event simulation of an outbound campaign-day that drives
the REAL pacing module (``campaigns.pacing``: the same ``decide`` the production dialer
calls), with the clock and the telephony injected.

The model (issue 8, "Benchmark"; every number is an option): ``--agents`` agents for a
``--hours`` shift, unlimited leads. Each dial is busy/failed with ``--p-busy`` (the line is
free after ``--busy-seconds``), answered with ``--p-answer`` after a log-normal ring time
(``--ring-mean``/``--ring-sd``, redrawn until below ``--ring-timeout``), otherwise it rings
out at ``--ring-timeout``. ``--p-machine`` of the answers are answering machines (detected
and hung up after ``--amd-seconds``, no agent needed), the rest live people; a person not
connected to a free agent within ``--connect-window`` seconds is abandoned. Talk time is
log-normal (``--talk-mean``/``--talk-sd``), then ``--wrap`` seconds of wrap-up. Each seed
is one campaign-day.

Strategies, each run on the same seeds:

- ``progressive``: ``campaigns.pacing.decide`` in progressive mode (calls in flight never
  exceed the ready agents), every ``--ours-period`` seconds and whenever an agent frees up;
- ``vicidial`` (``vicidial_max_<level>`` in the sweep): VICIdial's ADAPT_HARD_LIMIT
  pacer, reproduced from ``bin/AST_VDadapt.pl`` (v2.0.1, Matt Florell, GPLv2) and the
  call-count step of ``bin/AST_VDauto_dial.pl``. Every second a sample of ready agents
  (READY/DONE), live calls waiting for an agent (status LIVE) and logged-in agents; every
  15 s ``differential = avg(ready) - avg(waiting)`` over the last 15 samples,
  ``pct = 100 * differential / avg(agents)``, scaled by the adaptive intensity
  (``pct * (1 + i/100)`` when positive, ``pct * |i/100 - 1|`` when negative, default
  ``i = 0``), ``level *= 1 + pct/100``, capped at the maximum level (default 3.0) and
  floored at 1.0; drop statistics refresh once a minute; if more than 20 calls in the last
  minute and over 50 % of them dropped the level halves; if more than 50 calls today and
  today's drop % (drops / live answers) exceeds the limit (3 %), HARD_LIMIT resets the level
  to 1.0. Every 2.5 s, calls to place = ``round(level * (ready + in-call agents))`` minus the
  campaign's live lines (VICIdial counts ``vicidial_auto_calls`` in SENT, RINGING, LIVE,
  XFER, CLOSER, i.e. ringing, in detection, waiting and connected calls), so level 1.0 is
  progressive. Run at its defaults and over a sweep of maximum levels
  (``--vici-levels``); the best is the one with the most talk time whose worst day stays
  within the cap;
- ``ours``: ``campaigns.pacing.decide`` in predictive mode, every ``--ours-period``
  seconds and whenever an agent frees up, with statistics learned from scratch each day
  (so each day starts progressive).

Reported per strategy: talk minutes per agent-hour (mean, min over days), agent idle %
(ready, waiting for a call), abandonment % of live answers (mean and worst day), calls per
agent-hour. Then a sensitivity table (answer rate * agents, ours vs progressive and the
best VICIdial level) and, with ``--plot``, a PNG of talk time against abandonment per day.
Prints ONE JSON line on stdout (progress on stderr); exit 1 when ours misses the goal
(talk ≥ 1.4 * progressive, ≥ 5 talk minutes per agent-hour over the best VICIdial,
abandonment ≤ cap on every day). Pure Python, ``heapq`` and seeded ``random``.

    .venv/bin/python bench/dialer_sim.py                      # the full run (minutes)
    .venv/bin/python bench/dialer_sim.py --seeds 3 --hours 1 --no-sensitivity   # quick
    .venv/bin/python bench/dialer_sim.py --plot bench/dialer_sim.png
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campaigns.pacing import (
    AbandonmentCounts,
    AgentActivity,
    AgentView,
    CallStatistics,
    CallView,
    Mode,
    PacingConfig,
    PacingState,
    decide,
)

READY, TALKING, WRAP = 0, 1, 2
RINGING, WAITING, AMD, CONNECTED = 0, 1, 2, 3


@dataclass(frozen=True)
class Model:
    agents: int = 20
    hours: float = 8.0
    p_busy: float = 0.05
    busy_seconds: float = 3.0
    p_answer: float = 0.30
    ring_mean: float = 8.0
    ring_sd: float = 4.0
    ring_timeout: float = 25.0
    p_machine: float = 0.15
    amd_seconds: float = 3.0
    connect_window: float = 2.0
    talk_mean: float = 120.0
    talk_sd: float = 60.0
    wrap: float = 15.0
    cap: float = 0.03


def lognormal_params(mean: float, sd: float) -> tuple[float, float]:
    sigma2 = math.log(1.0 + (sd * sd) / (mean * mean))
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


@dataclass
class Agent:
    state: int = READY
    since: float = 0.0
    talk_start: float = 0.0


@dataclass
class Call:
    placed: float
    state: int = RINGING
    answered_at: float = 0.0
    agent: int = -1


@dataclass
class DayResult:
    talk_min_per_agent_hour: float
    idle_pct: float
    abandon_pct: float
    calls_per_agent_hour: float
    live: int
    abandoned: int
    dials: int


@dataclass
class World:
    """One campaign-day: agents, calls, the event heap and the counters."""

    model: Model
    rng: random.Random
    shift: float
    agents: list[Agent] = field(default_factory=list)
    calls: dict[int, Call] = field(default_factory=dict)
    heap: list[tuple[float, int, str, int]] = field(default_factory=list)
    seq: int = 0
    now: float = 0.0
    next_call_id: int = 0
    ready_queue: deque[int] = field(default_factory=deque)  # longest idle first
    waiting_calls: deque[int] = field(default_factory=deque)
    stats: CallStatistics = field(default_factory=CallStatistics)
    live: int = 0
    abandoned: int = 0
    dials: int = 0
    dials_recent_minute: deque[float] = field(default_factory=deque)
    recent: deque[tuple[float, bool]] = field(default_factory=deque)  # (time, abandoned)
    talk_seconds: float = 0.0
    idle_seconds: float = 0.0
    on_agent_free: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        m = self.model
        self.agents = [Agent() for _ in range(m.agents)]
        self.ready_queue = deque(range(m.agents))
        self._ring = lognormal_params(m.ring_mean, m.ring_sd)
        self._talk = lognormal_params(m.talk_mean, m.talk_sd)

    # -- events ---------------------------------------------------------------
    def push(self, at: float, kind: str, ident: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, ident))

    def _set_agent(self, idx: int, state: int) -> None:
        agent = self.agents[idx]
        if agent.state == READY:
            self.idle_seconds += _clip(agent.since, self.now, self.shift)
        agent.state = state
        agent.since = self.now

    # -- telephony ------------------------------------------------------------
    def place(self, count: int) -> int:
        m = self.model
        rng = self.rng
        for _ in range(count):
            cid = self.next_call_id
            self.next_call_id += 1
            self.calls[cid] = Call(self.now)
            self.dials += 1
            self.dials_recent_minute.append(self.now)
            u = rng.random()
            if u < m.p_busy:
                self.push(self.now + m.busy_seconds, "busy", cid)
            elif u < m.p_busy + m.p_answer:
                while True:
                    ring = rng.lognormvariate(*self._ring)
                    if ring < m.ring_timeout:
                        break
                kind = "machine" if rng.random() < m.p_machine else "live"
                self.push(self.now + ring, kind, cid)
            else:
                self.push(self.now + m.ring_timeout, "ringout", cid)
        return count

    def _connect(self, cid: int, idx: int) -> None:
        call = self.calls[cid]
        call.state = CONNECTED
        call.agent = idx
        self._set_agent(idx, TALKING)
        self.agents[idx].talk_start = self.now
        self.push(self.now + self.rng.lognormvariate(*self._talk), "talk_end", idx)
        self._resolve_live(False)

    def _resolve_live(self, abandoned: bool) -> None:
        self.live += 1
        if abandoned:
            self.abandoned += 1
        self.recent.append((self.now, abandoned))

    def handle(self, kind: str, ident: int) -> None:
        m = self.model
        if kind == "busy" or kind == "ringout":
            call = self.calls.pop(ident)
            self.stats.record_dial(self.now - call.placed, live=False)
        elif kind == "machine":
            call = self.calls[ident]
            call.state = AMD
            self.stats.record_dial(self.now - call.placed, live=False, machine=True)
            self.push(self.now + m.amd_seconds, "amd_end", ident)
        elif kind == "amd_end":
            self.calls.pop(ident)
        elif kind == "live":
            call = self.calls[ident]
            call.answered_at = self.now
            self.stats.record_dial(self.now - call.placed, live=True)
            if self.ready_queue:
                self._connect(ident, self.ready_queue.popleft())
            else:
                call.state = WAITING
                self.waiting_calls.append(ident)
                self.push(self.now + m.connect_window, "abandon", ident)
        elif kind == "abandon":
            call = self.calls.get(ident)
            if call is not None and call.state == WAITING:
                self.waiting_calls.remove(ident)
                del self.calls[ident]
                self._resolve_live(True)
        elif kind == "talk_end":
            agent = self.agents[ident]
            talk = self.now - agent.talk_start
            self.talk_seconds += _clip(agent.talk_start, self.now, self.shift)
            self.stats.record_talk(talk)
            for cid, call in list(self.calls.items()):
                if call.agent == ident:
                    del self.calls[cid]
                    break
            self._set_agent(ident, WRAP)
            self.push(self.now + m.wrap, "wrap_end", ident)
            if self.on_agent_free is not None and self.now < self.shift:
                self.on_agent_free()
        elif kind == "wrap_end":
            self.stats.record_wrap(m.wrap)
            self._set_agent(ident, READY)
            if self.waiting_calls:
                self._connect(self.waiting_calls.popleft(), ident)
            else:
                self.ready_queue.append(ident)
            if self.on_agent_free is not None and self.now < self.shift:
                self.on_agent_free()

    # -- views ----------------------------------------------------------------
    def counts(self) -> tuple[int, int, int, int, int, int]:
        """ready, talking, wrap, ringing, waiting, amd"""
        ready = talking = wrap = 0
        for a in self.agents:
            if a.state == READY:
                ready += 1
            elif a.state == TALKING:
                talking += 1
            else:
                wrap += 1
        ringing = waiting = amd = 0
        for c in self.calls.values():
            if c.state == RINGING:
                ringing += 1
            elif c.state == WAITING:
                waiting += 1
            elif c.state == AMD:
                amd += 1
        return ready, talking, wrap, ringing, waiting, amd

    def pacing_state(self, mode: Mode, recent_seconds: float) -> PacingState:
        now = self.now
        agents = []
        for a in self.agents:
            if a.state == READY:
                agents.append(AgentView(AgentActivity.READY, now - a.since))
            elif a.state == TALKING:
                agents.append(AgentView(AgentActivity.TALKING, now - a.talk_start))
            else:
                agents.append(AgentView(AgentActivity.WRAP_UP, now - a.since))
        calls = [
            CallView(now - (c.answered_at if c.state == WAITING else c.placed), c.state == WAITING)
            for c in self.calls.values()
            if c.state in (RINGING, WAITING)
        ]
        recent = self.recent
        while recent and recent[0][0] < now - recent_seconds:
            recent.popleft()
        rec_ab = sum(1 for _, ab in recent if ab)
        ab = AbandonmentCounts(
            live_today=self.live,
            abandoned_today=self.abandoned,
            live_recent=len(recent),
            abandoned_recent=rec_ab,
            live_30d=self.live,
            abandoned_30d=self.abandoned,
        )
        return PacingState(mode, agents, calls, ab, self.stats)

    def finish(self) -> DayResult:
        # Close the books at the end of the shift: talk and idle up to the shift's end.
        for a in self.agents:
            if a.state == READY:
                self.idle_seconds += _clip(a.since, self.shift, self.shift)
            elif a.state == TALKING:
                self.talk_seconds += _clip(a.talk_start, self.shift, self.shift)
        agent_hours = self.model.agents * self.shift / 3600.0
        return DayResult(
            talk_min_per_agent_hour=self.talk_seconds / 60.0 / agent_hours,
            idle_pct=100.0 * self.idle_seconds / (self.model.agents * self.shift),
            abandon_pct=100.0 * self.abandoned / self.live if self.live else 0.0,
            calls_per_agent_hour=self.dials / agent_hours,
            live=self.live,
            abandoned=self.abandoned,
            dials=self.dials,
        )


def _clip(start: float, end: float, shift: float) -> float:
    return max(0.0, min(end, shift) - min(start, shift))


# -- strategies ---------------------------------------------------------------


class Strategy:
    name = "strategy"

    def start(self, world: World) -> None:
        raise NotImplementedError

    def on_event(self, world: World, kind: str) -> None:
        raise NotImplementedError


class OursStrategy(Strategy):
    """The real pacing module: ``decide`` on a snapshot of the world."""

    def __init__(self, mode: Mode, period: float, config: PacingConfig, recent: float) -> None:
        self.mode = mode
        self.period = period
        self.config = config
        self.recent = recent
        self.name = "progressive" if mode is Mode.PROGRESSIVE else "ours"
        self.decisions = 0
        self.bases: dict[str, int] = {}

    def step(self, world: World) -> None:
        decision = decide(world.pacing_state(self.mode, self.recent), self.config)
        self.decisions += 1
        self.bases[decision.basis] = self.bases.get(decision.basis, 0) + 1
        if decision.calls:
            world.place(decision.calls)

    def start(self, world: World) -> None:
        world.on_agent_free = lambda: self.step(world)
        world.push(0.0, "pace")

    def on_event(self, world: World, kind: str) -> None:
        if kind == "pace":
            self.step(world)
            if world.now + self.period < world.shift:
                world.push(world.now + self.period, "pace")


class VicidialStrategy(Strategy):
    """VICIdial's ADAPT_HARD_LIMIT (see the module docstring for the sources)."""

    def __init__(self, max_level: float, drop_limit: float, intensity: float = 0.0) -> None:
        self.max_level = max_level
        self.drop_limit = drop_limit  # percent
        self.intensity = intensity
        self.dl_diff_target = 0.0
        self.name = f"vicidial_max_{max_level:g}"
        self.level = 1.0
        self.samples: deque[tuple[int, int, int]] = deque(maxlen=15)
        self.drops_today_pct = 0.0
        self.calls_today = 0
        self.calls_one = 0
        self.drops_one_pct = 0.0
        self._last_minute: tuple[int, int, int] = (0, 0, 0)  # dials, live, abandoned

    def start(self, world: World) -> None:
        world.on_agent_free = None
        world.push(0.0, "vici_sample")
        world.push(0.0, "vici_dial")
        world.push(0.0, "vici_drops")
        world.push(15.0, "vici_adapt")

    def on_event(self, world: World, kind: str) -> None:
        if world.now >= world.shift:
            return
        if kind == "vici_sample":
            ready, talking, wrap, _ringing, waiting, _amd = world.counts()
            self.samples.append((ready, waiting, ready + talking + wrap))
            world.push(world.now + 1.0, "vici_sample")
        elif kind == "vici_drops":
            dials, live, ab = world.dials, world.live, world.abandoned
            d0, l0, a0 = self._last_minute
            self.calls_today = dials
            self.drops_today_pct = 100.0 * ab / live if live else 0.0
            self.calls_one = dials - d0
            self.drops_one_pct = 100.0 * (ab - a0) / (live - l0) if live > l0 else 0.0
            self._last_minute = (dials, live, ab)
            world.push(world.now + 60.0, "vici_drops")
        elif kind == "vici_adapt":
            self.adapt()
            world.push(world.now + 15.0, "vici_adapt")
        elif kind == "vici_dial":
            ready, talking, _wrap, ringing, waiting, amd = world.counts()
            goal = round(self.level * (ready + talking))
            lines = ringing + waiting + amd + talking  # SENT/RINGING/LIVE/XFER/CLOSER
            make = goal - lines
            if make > 0:
                world.place(make)
            world.push(world.now + 2.5, "vici_dial")

    def adapt(self) -> None:
        n = len(self.samples)
        if n == 0:
            return
        ready_avg = sum(s[0] for s in self.samples) / n
        waiting_avg = sum(s[1] for s in self.samples) / n
        agents_avg = sum(s[2] for s in self.samples) / n
        if agents_avg <= 0:
            return
        differential = ready_avg - waiting_avg + self.dl_diff_target
        pct = 100.0 * differential / agents_avg
        mul = self.intensity / 100.0
        diff = pct * abs(mul - 1.0) if pct < 0 else pct * (mul + 1.0)
        level = self.level * (diff / 100.0 + 1.0)
        level = min(level, self.max_level)
        level = max(level, 1.0)
        if self.calls_one > 20 and self.drops_one_pct > 50.0:
            level = level / 2.0
        if self.calls_today > 50 and self.drops_today_pct > self.drop_limit:
            level = 1.0  # ADAPT_HARD_LIMIT
        self.level = max(level, 1.0)


def run_day(model: Model, seed: int, strategy: Strategy) -> DayResult:
    world = World(model, random.Random(seed), model.hours * 3600.0)
    strategy.start(world)
    heap = world.heap
    world_kinds = {
        "busy",
        "ringout",
        "machine",
        "amd_end",
        "live",
        "abandon",
        "talk_end",
        "wrap_end",
    }
    while heap:
        at, _seq, kind, ident = heapq.heappop(heap)
        world.now = at
        if kind in world_kinds:
            world.handle(kind, ident)
        else:
            strategy.on_event(world, kind)
    return world.finish()


# -- aggregation --------------------------------------------------------------


def summarise(days: list[DayResult]) -> dict[str, Any]:
    talk = [d.talk_min_per_agent_hour for d in days]
    ab = [d.abandon_pct for d in days]
    return {
        "talk_min_per_agent_hour": round(sum(talk) / len(talk), 2),
        "talk_min_per_agent_hour_min": round(min(talk), 2),
        "idle_pct": round(sum(d.idle_pct for d in days) / len(days), 2),
        "abandon_pct": round(sum(ab) / len(ab), 3),
        "abandon_pct_worst_day": round(max(ab), 3),
        "calls_per_agent_hour": round(sum(d.calls_per_agent_hour for d in days) / len(days), 2),
        "days": len(days),
    }


# A strategy is described by plain data (so that worker processes can build it).
Spec = tuple[str, dict[str, Any]]


def make_strategy(spec: Spec) -> Strategy:
    kind, kw = spec
    if kind == "vicidial":
        return VicidialStrategy(kw["max_level"], kw["drop_limit"], kw["intensity"])
    mode = Mode.PROGRESSIVE if kind == "progressive" else Mode.PREDICTIVE
    return OursStrategy(mode, kw["period"], kw["config"], kw["recent"])


def _one_day(job: tuple[Model, int, Spec]) -> tuple[str, DayResult]:
    model, seed, spec = job
    strategy = make_strategy(spec)
    return strategy.name, run_day(model, seed, strategy)


_POOL: Any = None


def run_strategy(model: Model, seeds: list[int], spec: Spec) -> tuple[str, list[DayResult]]:
    jobs = [(model, seed, spec) for seed in seeds]
    done = _POOL.map(_one_day, jobs) if _POOL is not None else [_one_day(j) for j in jobs]
    return done[0][0], [d for _, d in done]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    d = Model()
    p.add_argument("--agents", type=int, default=d.agents)
    p.add_argument("--hours", type=float, default=d.hours)
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--p-busy", type=float, default=d.p_busy)
    p.add_argument("--busy-seconds", type=float, default=d.busy_seconds)
    p.add_argument("--p-answer", type=float, default=d.p_answer)
    p.add_argument("--ring-mean", type=float, default=d.ring_mean)
    p.add_argument("--ring-sd", type=float, default=d.ring_sd)
    p.add_argument("--ring-timeout", type=float, default=d.ring_timeout)
    p.add_argument("--p-machine", type=float, default=d.p_machine)
    p.add_argument("--amd-seconds", type=float, default=d.amd_seconds)
    p.add_argument("--connect-window", type=float, default=d.connect_window)
    p.add_argument("--talk-mean", type=float, default=d.talk_mean)
    p.add_argument("--talk-sd", type=float, default=d.talk_sd)
    p.add_argument("--wrap", type=float, default=d.wrap)
    p.add_argument("--cap", type=float, default=d.cap, help="abandonment cap (fraction)")
    p.add_argument("--target", type=float, default=PacingConfig().target)
    p.add_argument("--ours-period", type=float, default=2.0, help="seconds between pacing steps")
    p.add_argument("--recent-window", type=float, default=900.0, help="seconds")
    p.add_argument("--vici-default-level", type=float, default=3.0)
    p.add_argument("--vici-levels", default="1.5,2,2.5,3,4,5", help="max levels to sweep")
    p.add_argument("--vici-intensity", type=float, default=0.0)
    p.add_argument("--vici-drop-limit", type=float, default=3.0, help="percent")
    p.add_argument("--no-sensitivity", action="store_true")
    p.add_argument("--sens-seeds", type=int, default=5)
    p.add_argument("--sens-answer", default="0.15,0.3,0.5")
    p.add_argument("--sens-agents", default="5,20,50")
    p.add_argument("--plot", default="", help="write a PNG of talk time vs abandonment here")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (days run in parallel)")
    p.add_argument("--sens-hours", type=float, default=8.0)
    p.add_argument(
        "--sens-vici-level", type=float, default=0.0, help="default: the best of the sweep"
    )
    args = p.parse_args(argv)

    model = Model(
        agents=args.agents,
        hours=args.hours,
        p_busy=args.p_busy,
        busy_seconds=args.busy_seconds,
        p_answer=args.p_answer,
        ring_mean=args.ring_mean,
        ring_sd=args.ring_sd,
        ring_timeout=args.ring_timeout,
        p_machine=args.p_machine,
        amd_seconds=args.amd_seconds,
        connect_window=args.connect_window,
        talk_mean=args.talk_mean,
        talk_sd=args.talk_sd,
        wrap=args.wrap,
        cap=args.cap,
    )
    config = PacingConfig(cap=args.cap, target=args.target, connect_window=args.connect_window)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    started = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {msg}", file=sys.stderr, flush=True)

    def ours(mode: Mode, m: Model) -> Spec:
        kind = "progressive" if mode is Mode.PROGRESSIVE else "ours"
        return (
            kind,
            {"period": args.ours_period, "config": config, "recent": args.recent_window},
        )

    def vici(level: float) -> Spec:
        return (
            "vicidial",
            {
                "max_level": level,
                "drop_limit": args.vici_drop_limit,
                "intensity": args.vici_intensity,
            },
        )

    global _POOL
    if args.jobs > 1:
        import multiprocessing

        _POOL = multiprocessing.get_context("fork").Pool(args.jobs)

    results: dict[str, list[DayResult]] = {}
    for spec in (ours(Mode.PROGRESSIVE, model), ours(Mode.PREDICTIVE, model)):
        name, days = run_strategy(model, seeds, spec)
        results[name] = days
        log(f"{name}: {summarise(days)}")
    levels = sorted(
        {float(x) for x in args.vici_levels.split(",") if x} | {args.vici_default_level}
    )
    sweep: dict[str, dict[str, Any]] = {}
    for level in levels:
        name, days = run_strategy(model, seeds, vici(level))
        results[name] = days
        sweep[name] = summarise(days)
        log(f"{name}: {sweep[name]}")
    cap_pct = 100.0 * args.cap
    within = [n for n, s in sweep.items() if s["abandon_pct_worst_day"] <= cap_pct]
    best_vici = max(within or list(sweep), key=lambda n: sweep[n]["talk_min_per_agent_hour"])
    default_vici = f"vicidial_max_{args.vici_default_level:g}"

    summary = {name: summarise(days) for name, days in results.items()}
    prog = summary["progressive"]["talk_min_per_agent_hour"]
    our = summary["ours"]
    goal = {
        "talk_vs_progressive": round(our["talk_min_per_agent_hour"] / prog, 3) if prog else None,
        "talk_minus_best_vicidial": round(
            our["talk_min_per_agent_hour"] - summary[best_vici]["talk_min_per_agent_hour"], 2
        ),
        "worst_day_abandon_pct": our["abandon_pct_worst_day"],
        "best_vicidial": best_vici,
        "best_vicidial_respects_cap": best_vici in within,
    }
    goal_met = bool(
        goal["talk_vs_progressive"] is not None
        and goal["talk_vs_progressive"] >= 1.4
        and goal["talk_minus_best_vicidial"] >= 5.0
        and our["abandon_pct_worst_day"] <= cap_pct
    )
    goal["met"] = goal_met

    sensitivity: list[dict[str, Any]] = []
    if not args.no_sensitivity:
        sens_seeds = list(range(args.first_seed, args.first_seed + args.sens_seeds))
        for pa in (float(x) for x in args.sens_answer.split(",")):
            for n_agents in (int(x) for x in args.sens_agents.split(",")):
                m = Model(
                    **{
                        **model.__dict__,
                        "p_answer": pa,
                        "agents": n_agents,
                        "hours": args.sens_hours,
                    }
                )
                row: dict[str, Any] = {"p_answer": pa, "agents": n_agents}
                for spec in (
                    ours(Mode.PROGRESSIVE, m),
                    ours(Mode.PREDICTIVE, m),
                    vici(args.sens_vici_level or float(best_vici.rsplit("_", 1)[1])),
                ):
                    name, days = run_strategy(m, sens_seeds, spec)
                    s = summarise(days)
                    key = "vicidial_best" if name.startswith("vicidial") else name
                    row[key] = {
                        "talk": s["talk_min_per_agent_hour"],
                        "abandon_pct": s["abandon_pct"],
                        "abandon_worst": s["abandon_pct_worst_day"],
                    }
                sensitivity.append(row)
                log(f"sensitivity {row}")

    if args.plot:
        plot(results, args.plot, cap_pct, best_vici, default_vici)
        log(f"plot written to {args.plot}")

    out = {
        "bench": "dialer_sim",
        "model": model.__dict__,
        "seeds": len(seeds),
        "ours_period_s": args.ours_period,
        "strategies": summary,
        "vicidial_default": default_vici,
        "vicidial_best": best_vici,
        "goal": goal,
        "sensitivity": sensitivity,
        "sensitivity_seeds": 0 if args.no_sensitivity else args.sens_seeds,
        "sensitivity_hours": args.sens_hours,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(out, separators=(",", ":")))
    return 0 if goal_met else 1


def plot(
    results: dict[str, list[DayResult]], path: str, cap_pct: float, best: str, default: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    for name, days in results.items():
        label = name
        if name == best:
            label += " (best tuned)"
        if name == default:
            label += " (default)"
        marker = {"ours": "o", "progressive": "s"}.get(name, "^")
        size = 36 if name in ("ours", "progressive", best, default) else 14
        ax.scatter(
            [d.abandon_pct for d in days],
            [d.talk_min_per_agent_hour for d in days],
            label=label,
            marker=marker,
            s=size,
            alpha=0.75,
        )
    ax.axvline(cap_pct, color="red", linestyle="--", linewidth=1)
    ax.text(cap_pct, ax.get_ylim()[0], f" cap {cap_pct:g} %", color="red", va="bottom")
    ax.set_xlabel("abandoned live answers (% per campaign-day)")
    ax.set_ylabel("talk minutes per agent-hour")
    ax.set_title("Dialer pacing: one point per strategy and campaign-day")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
