"""The offered load, drawn in full before the run: when each call is due, who makes it, what
kind it is, and the random draws that decide its feedback. Pure and seeded (numpy); no I/O.

Drawing everything up front keeps the generator's loop to "wait until due, fire", and makes a
run's load reproducible from its seed whatever the gateway does.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loadtest.rehearsal.scenario import Arrivals, Population, Scenario

CHAT, STREAM, EMBEDDINGS = 0, 1, 2
KINDS = ("chat", "stream", "embeddings")
NOT_PINNED = -1
_GRID_S = 0.001  # the rate function is integrated on this grid (coarser for long runs)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Schedule:
    """One row per call, in order of due time (seconds from the start of the load)."""

    due_s: Floats
    user: Ints  # index of the sticky key (pinning clients have their own keys: see `keys`)
    kind: Ints  # CHAT, STREAM or EMBEDDINGS
    pinned: Ints  # index into the scenario's release ids, or NOT_PINNED
    rate_draw: Floats  # uniform: whether the user rates the answer
    down_draw: Floats  # uniform: thumbs down or up
    score_draw: Floats  # uniform: a score instead of a thumb
    score_noise: Floats  # standard normal: the score's spread around the release's quality
    delay_draw: Floats  # unit exponential: the feedback's delay in units of the mean
    keys: list[str]  # sticky key of each user index

    def __len__(self) -> int:
        return int(self.due_s.size)


def rate_at(arrivals: Arrivals, times: Floats) -> Floats:
    """Offered calls/s at each time: piecewise-linear ramps from `rate`, times any burst."""
    rate = np.full(times.shape, arrivals.rate, dtype=np.float64)
    level = arrivals.rate
    for ramp in arrivals.ramps:
        after = times >= ramp.at_s
        if ramp.over_s > 0:
            progress = np.clip((times - ramp.at_s) / ramp.over_s, 0.0, 1.0)
            rate = np.where(after, level + (ramp.to_rate - level) * progress, rate)
        else:
            rate = np.where(after, ramp.to_rate, rate)
        level = ramp.to_rate
    for burst in arrivals.bursts:
        inside = (times >= burst.at_s) & (times < burst.at_s + burst.duration_s)
        rate = np.where(inside, rate * burst.factor, rate)
    return rate


def poisson_times(
    rng: np.random.Generator, arrivals: Arrivals, start_s: float, end_s: float, limit: int
) -> Floats:
    """Arrival times of a Poisson process with intensity `rate_at` on [start_s, end_s): unit
    exponential gaps mapped through the inverse of the integrated intensity."""
    if end_s <= start_s:
        return np.empty(0)
    step = max(_GRID_S, (end_s - start_s) / 2_000_000)  # bounded memory for long runs
    grid = np.arange(start_s, end_s + step, step)
    rate = rate_at(arrivals, grid[:-1])
    cumulative = np.concatenate(([0.0], np.cumsum(rate * np.diff(grid))))
    total = cumulative[-1]
    expected = int(total + 6 * np.sqrt(total) + 10)
    marks = np.cumsum(rng.exponential(1.0, size=min(expected, limit + 1)))
    marks = marks[marks < total][:limit]
    # intensity zero on a stretch makes `cumulative` flat there; interp takes its first point
    times: Floats = np.interp(marks, cumulative, grid)
    return times


def user_choices(rng: np.random.Generator, population: Population, size: int) -> Ints:
    if population.activity == "uniform":
        return rng.integers(0, population.users, size=size)
    ranks = np.arange(1, population.users + 1, dtype=np.float64)
    weights = ranks ** (-population.zipf_exponent)
    drawn = rng.choice(population.users, size=size, p=weights / weights.sum())
    # which key is the heaviest user must not depend on the key's name: shuffle the ranks
    return rng.permutation(population.users)[drawn]


def build(scenario: Scenario) -> Schedule:
    rng = np.random.default_rng(scenario.run.seed)
    duration = scenario.run.duration_s
    limit = scenario.run.max_calls
    due = [poisson_times(rng, scenario.arrivals, 0.0, duration, limit)]
    users = [user_choices(rng, scenario.population, due[0].size)]
    pinned = [np.full(due[0].size, NOT_PINNED)]
    keys = [f"user-{n}" for n in range(scenario.population.users)]
    release_ids = scenario.release_ids()
    for number, client in enumerate(scenario.clients):
        end = duration if client.to_s is None else min(client.to_s, duration)
        constant = Arrivals(rate=client.rate)
        times = poisson_times(rng, constant, client.from_s, end, limit)
        due.append(times)
        users.append(len(keys) + rng.integers(0, client.users, size=times.size))
        pinned.append(np.full(times.size, release_ids.index(client.release)))
        keys.extend(f"client{number}-{n}" for n in range(client.users))
    all_due = np.concatenate(due)
    order = np.argsort(all_due, kind="stable")[:limit]
    size = order.size
    mix = scenario.mix
    kind_draw = rng.random(size)
    kind = np.where(
        kind_draw < mix.embeddings_share,
        EMBEDDINGS,
        np.where(kind_draw < mix.embeddings_share + mix.stream_share, STREAM, CHAT),
    )
    pinned_all = np.concatenate(pinned)[order]
    kind = np.where(pinned_all == NOT_PINNED, kind, CHAT)  # pinning clients send plain chat
    return Schedule(
        due_s=all_due[order],
        user=np.concatenate(users)[order],
        kind=kind,
        pinned=pinned_all,
        rate_draw=rng.random(size),
        down_draw=rng.random(size),
        score_draw=rng.random(size),
        score_noise=rng.standard_normal(size),
        delay_draw=rng.exponential(1.0, size),
        keys=keys,
    )
