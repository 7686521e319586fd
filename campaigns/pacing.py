"""Dialer pacing: how many calls a campaign should place *now*.

A pure module: no database, no Flask, no wall clock. Everything it needs comes in as
plain values (a :class:`PacingState` snapshot: agents and calls with their elapsed times,
the measured statistics, the abandonment counts), and the :class:`Pacer` driver gets its
clock and its telephony injected (:class:`Telephony`). The production dialer
(``campaigns/dialer.py``) builds the snapshot from the database and places calls through
the voice port; the simulator (``bench/dialer_sim.py``) builds it from its simulated
world. The same :func:`decide` runs in both.

Modes
-----
- ``preview``: never dials on its own (the agent clicks to dial), so 0.
- ``progressive``: one call per available agent: calls in flight (ringing or answered and
  waiting for an agent) never exceed the available agents.
- ``predictive``: more calls than available agents, from measured statistics, with the
  abandonment rate kept under a cap. It behaves exactly like progressive until it has
  enough data (``min_live_answers`` live answers and ``min_talk_samples`` finished talks)
  and whenever abandonment is at or over the cap (today, in the last minutes, or over the
  rolling 30 days), so it backs off at once when abandonment rises.

The predictive model
--------------------
Abandonment happens when a person answers and no agent is free within the connect window
(2 s). Over the next seconds two counting processes race:

- ``A(t)``, live answers arriving by time ``t``: the calls already waiting for an agent,
  plus, for each ringing call, the probability that it is answered by a person within the
  next ``t`` seconds *given* it has rung ``e`` seconds already (the hazard, from the
  measured ring-time distribution: ``(H(e+t) - H(e)) / S(e)`` where ``H`` is the share of
  dials answered by a person within a ring time and ``S`` the share of dials still ringing),
  plus ``n * H(t)`` for ``n`` new calls;
- ``F(t)``, agents free by ``t + window``: the ready agents, plus, for each agent talking
  for ``e`` seconds, ``P(talk + wrap-up <= e + t + window | talk > e)`` from the measured
  handle-time distribution and the mean wrap-up, and for each agent in wrap-up the
  probability the wrap-up is over by then.

Both are sums of independent Bernoulli variables; the loss (answers nobody takes) over the
horizon is approximated by ``max_t E[(A(t) - F(t))^+]`` with ``A - F`` taken as normal
(mean and variance of the sums). Placing one more call raises that expected loss by a
*marginal* amount; dividing by the call's chance of reaching a person gives the marginal
probability that this call's live answer is abandoned. The pacer adds calls while that
marginal probability stays under a threshold ``theta``. The expected loss is convex in the
number of calls, so the average abandonment stays below the marginal one.

``theta`` comes from a feedback controller on measured abandonment, so that the
approximations above (independence, normality, the horizon) are corrected by what
actually happens. It is stateless: the integral term is today's rate itself (today's
abandons minus ``target *`` today's live answers is the integral of the error), the
proportional term is the rate over a recent window (default 15 minutes)::

    log(theta) = log(theta0) + ki * w_today * (target - today) / target
                             + kp * w_recent * (target - recent) / target

where ``w`` grows from 0 to 1 with the number of live answers behind each rate (little
data, little trust). Above the cap (recent window, today, or 30 days) the pacer falls back
to progressive; it also does so when today's rate reaches ``guard * cap``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Mode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class AgentActivity(StrEnum):
    READY = "ready"  # logged in to the campaign, free, waiting for a call
    TALKING = "talking"  # on a call
    WRAP_UP = "wrap_up"  # after-call work


@dataclass(frozen=True, slots=True)
class AgentView:
    """One agent of the campaign: what they do and for how long (seconds)."""

    activity: AgentActivity
    elapsed: float = 0.0


@dataclass(frozen=True, slots=True)
class CallView:
    """One call in flight: ringing for ``elapsed`` seconds, or answered by a person and
    ``waiting`` for an agent (since ``elapsed`` seconds)."""

    elapsed: float = 0.0
    waiting: bool = False


@dataclass(frozen=True, slots=True)
class AbandonmentCounts:
    """Live answers (the denominator) and abandoned live answers, today, over a recent
    window and over the rolling 30 days."""

    live_today: int = 0
    abandoned_today: int = 0
    live_recent: int = 0
    abandoned_recent: int = 0
    live_30d: int = 0
    abandoned_30d: int = 0

    @staticmethod
    def rate(abandoned: int, live: int) -> float:
        return abandoned / live if live > 0 else 0.0

    @property
    def today(self) -> float:
        return self.rate(self.abandoned_today, self.live_today)

    @property
    def recent(self) -> float:
        return self.rate(self.abandoned_recent, self.live_recent)

    @property
    def rolling_30d(self) -> float:
        return self.rate(self.abandoned_30d, self.live_30d)


class Histogram:
    """An empirical distribution of durations (seconds) in fixed-width bins, with a
    cumulative table rebuilt lazily: once more than 2 % new samples have come in (at once
    while there are fewer than 50), so that a busy campaign does not rebuild it on every
    call. ``count_below`` is exact at bin edges and linear between."""

    __slots__ = ("_cum", "_pending", "bin_width", "counts", "sum", "total")

    def __init__(self, max_seconds: float, bin_width: float = 0.5) -> None:
        self.bin_width = bin_width
        self.counts = [0] * (int(max_seconds / bin_width) + 1)
        self.total = 0
        self.sum = 0.0
        self._cum: list[float] = []
        self._pending = 1

    def add(self, seconds: float, count: int = 1) -> None:
        i = min(max(int(seconds / self.bin_width), 0), len(self.counts) - 1)
        self.counts[i] += count
        self.total += count
        self.sum += seconds * count
        self._pending += count

    def extend(self, values: Iterable[float]) -> None:
        for v in values:
            self.add(v)

    @property
    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0

    def cumulative(self) -> list[float]:
        """``cum[i]`` = number of samples below ``i * bin_width`` (``len(counts)+1``)."""
        if self._pending > self.total // 50:
            acc = 0.0
            cum = [0.0]
            for c in self.counts:
                acc += c
                cum.append(acc)
            self._cum = cum
            self._pending = 0
        return self._cum

    def count_below(self, seconds: float) -> float:
        cum = self.cumulative()
        x = seconds / self.bin_width
        if x <= 0:
            return 0.0
        i = int(x)
        if i >= len(cum) - 1:
            return cum[-1]
        return cum[i] + (cum[i + 1] - cum[i]) * (x - i)

    def cdf(self, seconds: float) -> float:
        total = self.cumulative()[-1]
        return self.count_below(seconds) / total if total else 0.0


@dataclass
class CallStatistics:
    """What the pacer has measured about this campaign's calls.

    - ``ring_end``: for every finished dial, the seconds until it stopped ringing (answered,
      busy/failed, or rang out), so ``S(e)`` = share of dials still ringing at ``e``;
    - ``live_ring``: for dials answered by a person, their ring time, so ``H(t)`` =
      ``live_ring.count_below(t) / dials``;
    - ``talk``: talk times of connected calls; ``wrap``: wrap-up times.
    """

    ring_end: Histogram = field(default_factory=lambda: Histogram(180.0))
    live_ring: Histogram = field(default_factory=lambda: Histogram(180.0))
    talk: Histogram = field(default_factory=lambda: Histogram(3600.0, 1.0))
    wrap: Histogram = field(default_factory=lambda: Histogram(900.0, 0.5))
    dials: int = 0
    live_answers: int = 0
    machine_answers: int = 0

    def record_dial(self, ring_seconds: float, *, live: bool, machine: bool = False) -> None:
        """A dial stopped ringing after ``ring_seconds``: answered by a person (``live``),
        by a machine, or not at all (busy, failed, no answer)."""
        self.dials += 1
        self.ring_end.add(ring_seconds)
        if live:
            self.live_answers += 1
            self.live_ring.add(ring_seconds)
        elif machine:
            self.machine_answers += 1

    def record_talk(self, seconds: float) -> None:
        self.talk.add(seconds)

    def record_wrap(self, seconds: float) -> None:
        self.wrap.add(seconds)

    @property
    def live_rate(self) -> float:
        return self.live_answers / self.dials if self.dials else 0.0


@dataclass(frozen=True, slots=True)
class PacingConfig:
    cap: float = 0.03  # the legal cap on abandoned / live answers
    target: float = 0.02  # what the feedback controller aims at
    connect_window: float = 2.0  # a live answer must reach an agent within this (s)
    min_live_answers: int = 50  # predictive starts as progressive until it has these
    min_talk_samples: int = 20
    horizon: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0)
    theta0: float = 0.006  # base marginal abandonment probability allowed per new call
    theta_min: float = 0.0005
    theta_max: float = 0.05
    kp: float = 1.0  # weight of the recent window's relative error (log scale)
    ki: float = 1.0  # weight of today's relative error (log scale)
    error_min: float = -3.0  # relative errors are clipped to [error_min, error_max]:
    error_max: float = 0.5  # cut hard when over target, raise gently when under
    trust_live: int = 200  # live answers behind a rate for full trust in it
    recent_min_live: int = 30  # the recent window's rate counts towards back-off above this
    guard: float = 0.9  # fall back to progressive when today's rate >= guard * cap
    emergency: float = 2.0  # ... or when the recent window's rate >= emergency * cap
    max_lines_per_agent: float = 5.0  # never more calls in flight than this * agents
    max_new_per_step: int = 50


@dataclass(frozen=True, slots=True)
class PacingState:
    """A snapshot of one campaign at one moment."""

    mode: Mode
    agents: Sequence[AgentView]
    calls: Sequence[CallView]
    abandonment: AbandonmentCounts
    stats: CallStatistics


@dataclass(frozen=True, slots=True)
class Decision:
    calls: int  # calls to place now
    mode: Mode  # the mode asked for
    basis: str  # "preview", "progressive", "warming_up", "backing_off", "predictive"
    theta: float = 0.0  # marginal abandonment probability allowed (predictive only)
    expected_loss: float = 0.0  # expected unmatched live answers after placing them


def _norm_pos_part(mu: float, var: float) -> float:
    """E[max(X, 0)] for X ~ Normal(mu, var)."""
    if var <= 1e-12:
        return mu if mu > 0 else 0.0
    sd = math.sqrt(var)
    z = mu / sd
    if z < -8.0:
        return 0.0
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    cdf = 0.5 * math.erfc(-z / math.sqrt(2.0))
    return mu * cdf + sd * pdf


def controller_theta(ab: AbandonmentCounts, cfg: PacingConfig) -> float:
    """The marginal abandonment threshold from measured abandonment (stateless PI)."""
    target = cfg.target
    w_today = min(1.0, ab.live_today / cfg.trust_live)
    w_recent = min(1.0, ab.live_recent / cfg.trust_live)
    e_today = min(cfg.error_max, max(cfg.error_min, (target - ab.today) / target))
    e_recent = min(cfg.error_max, max(cfg.error_min, (target - ab.recent) / target))
    log_theta = math.log(cfg.theta0) + cfg.ki * w_today * e_today + cfg.kp * w_recent * e_recent
    return min(cfg.theta_max, max(cfg.theta_min, math.exp(log_theta)))


def backing_off(ab: AbandonmentCounts, cfg: PacingConfig) -> bool:
    """Abandonment at or over the cap (or today's close to it): dial progressively."""
    if ab.live_30d >= cfg.min_live_answers and ab.rolling_30d >= cfg.cap:
        return True
    if ab.live_recent >= cfg.recent_min_live and ab.recent >= cfg.emergency * cfg.cap:
        return True
    return ab.live_today >= cfg.min_live_answers and ab.today >= cfg.guard * cfg.cap


def progressive_calls(state: PacingState) -> int:
    ready = sum(1 for a in state.agents if a.activity is AgentActivity.READY)
    return max(0, ready - len(state.calls))


def decide(state: PacingState, cfg: PacingConfig | None = None) -> Decision:
    """How many calls to place now (see the module docstring for the model)."""
    cfg = cfg or PacingConfig()
    if state.mode is Mode.PREVIEW:
        return Decision(0, state.mode, "preview")
    base = progressive_calls(state)
    if state.mode is Mode.PROGRESSIVE:
        return Decision(base, state.mode, "progressive")
    stats = state.stats
    if (
        stats.live_answers < cfg.min_live_answers
        or stats.talk.total < cfg.min_talk_samples
        or stats.dials == 0
    ):
        return Decision(base, state.mode, "warming_up")
    if backing_off(state.abandonment, cfg):
        return Decision(base, state.mode, "backing_off")
    theta = controller_theta(state.abandonment, cfg)
    n, loss = _predictive_calls(state, cfg, theta)
    return Decision(max(n, base), state.mode, "predictive", theta, loss)


def _table(hist: Histogram) -> tuple[list[float], float, int]:
    cum = hist.cumulative()
    return cum, 1.0 / hist.bin_width, len(cum) - 1


def _predictive_calls(state: PacingState, cfg: PacingConfig, theta: float) -> tuple[int, float]:
    # Cumulative tables, looked up inline (rounded down to a bin edge: this runs every
    # second or two for every campaign, and in the simulator millions of times).
    cum_end, inv_end, last_end = _table(state.stats.ring_end)
    cum_live, inv_live, last_live = _table(state.stats.live_ring)
    cum_talk, inv_talk, last_talk = _table(state.stats.talk)
    cum_wrap, inv_wrap, last_wrap = _table(state.stats.wrap)
    dials = cum_end[-1]
    talk_total = cum_talk[-1]
    wrap_total = cum_wrap[-1]
    wrap_mean = state.stats.wrap.mean
    window = cfg.connect_window
    horizon = cfg.horizon
    n_h = len(horizon)
    if dials <= 0 or cum_live[-1] <= 0:
        return 0, 0.0

    # Live answers expected from the calls already in flight, per horizon point.
    mu_a = [0.0] * n_h
    var_a = [0.0] * n_h
    for call in state.calls:
        if call.waiting:
            for k in range(n_h):
                mu_a[k] += 1.0
            continue
        e = call.elapsed
        still = dials - cum_end[min(int(e * inv_end), last_end)]
        if still <= 0.5:
            continue
        h_e = cum_live[min(int(e * inv_live), last_live)]
        for k in range(n_h):
            p = (cum_live[min(int((e + horizon[k]) * inv_live), last_live)] - h_e) / still
            if p > 0.0:
                if p > 1.0:
                    p = 1.0
                mu_a[k] += p
                var_a[k] += p * (1.0 - p)

    # Agents expected to be free (within the connect window) by each horizon point.
    mu_f = [0.0] * n_h
    var_f = [0.0] * n_h
    n_agents = 0
    for agent in state.agents:
        n_agents += 1
        if agent.activity is AgentActivity.READY:
            for k in range(n_h):
                mu_f[k] += 1.0
            continue
        e = agent.elapsed
        if agent.activity is AgentActivity.TALKING:
            below_e = cum_talk[min(int(e * inv_talk), last_talk)]
            left = talk_total - below_e
            if left <= 0.5:
                continue  # longer than anything measured: do not count on this agent
            for k in range(n_h):
                x = e + horizon[k] + window - wrap_mean
                if x <= e:
                    continue
                p = (cum_talk[min(int(x * inv_talk), last_talk)] - below_e) / left
                if p > 0.0:
                    if p > 1.0:
                        p = 1.0
                    mu_f[k] += p
                    var_f[k] += p * (1.0 - p)
        else:
            below_e = cum_wrap[min(int(e * inv_wrap), last_wrap)]
            left = wrap_total - below_e
            for k in range(n_h):
                if left <= 0.5:
                    p = 1.0
                else:
                    x = (e + horizon[k] + window) * inv_wrap
                    p = (cum_wrap[min(int(x), last_wrap)] - below_e) / left
                    p = min(1.0, max(0.0, p))
                mu_f[k] += p
                var_f[k] += p * (1.0 - p)

    # A new call's chance of a live answer within each horizon point, and overall.
    q = [cum_live[min(int(t * inv_live), last_live)] / dials for t in horizon]
    q_live = cum_live[-1] / dials
    base_mu = [mu_a[k] - mu_f[k] for k in range(n_h)]
    base_var = [var_a[k] + var_f[k] for k in range(n_h)]
    q_var = [qk * (1.0 - qk) for qk in q]

    def loss(n: int) -> float:
        worst = 0.0
        for k in range(n_h):
            v = _norm_pos_part(base_mu[k] + n * q[k], base_var[k] + n * q_var[k])
            if v > worst:
                worst = v
        return worst

    max_lines = int(cfg.max_lines_per_agent * n_agents)
    room = min(cfg.max_new_per_step, max_lines - len(state.calls))
    n = 0
    current = loss(0)
    allowed = theta * q_live
    while n < room:
        nxt = loss(n + 1)
        if nxt - current > allowed:
            break
        n += 1
        current = nxt
    return n, current


class Telephony(Protocol):
    """What the pacer needs from the world: a snapshot and a way to place calls."""

    def snapshot(self, now: float) -> PacingState: ...

    def place_calls(self, count: int, now: float) -> int:
        """Place up to ``count`` calls; return how many were placed."""
        ...


class Clock(Protocol):
    def __call__(self) -> float: ...


@dataclass
class Pacer:
    """One pacing step: read the clock, take a snapshot, decide, place the calls."""

    telephony: Telephony
    clock: Clock
    config: PacingConfig = field(default_factory=PacingConfig)

    def step(self) -> tuple[Decision, int]:
        now = self.clock()
        decision = decide(self.telephony.snapshot(now), self.config)
        placed = self.telephony.place_calls(decision.calls, now) if decision.calls > 0 else 0
        return decision, placed
