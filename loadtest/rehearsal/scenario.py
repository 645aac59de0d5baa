"""A rehearsal scenario: who calls, how often, what each release does, and the release action.

Declared once as msgspec Structs with their cross-field rules, so a bad file fails with the
field's path (`$.releases.r2.feedback.thumbs_down`); `scenario_file` reads and decodes it.
Pure; no I/O.
"""

import re
from typing import Annotated, Any, Literal

import msgspec

from control.rollout.model import GuardIn

Rate = Annotated[float, msgspec.Meta(ge=0, le=1)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=7 * 24 * 3600)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
_RELEASE_ID = re.compile(r"^r([1-9][0-9]*)$")


class Run(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    duration_s: Annotated[float, msgspec.Meta(gt=0, le=24 * 3600)]  # offered load stops here
    max_calls: Annotated[int, msgspec.Meta(ge=1, le=5_000_000)] = 1_000_000  # hard count bound
    seed: int = 1  # arrivals, users, request kinds and feedback are all drawn from it
    stop_after_outcome_s: Seconds | None = None  # end this long after the action's outcome
    request_timeout_s: Positive = 30.0  # per call, then counted as a lost call
    max_in_flight: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 4000  # beyond: shed, counted
    connections: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 256  # the client's pool size


class Population(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    users: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 10_000  # distinct sticky keys
    activity: Literal["uniform", "zipf"] = "uniform"  # how calls spread over the users
    zipf_exponent: Annotated[float, msgspec.Meta(gt=0, le=4)] = 1.1  # user of rank k ∝ 1/k^s


class Ramp(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """From `at_s`, move the base rate linearly to `to_rate` over `over_s` (0: a jump)."""

    at_s: Seconds
    to_rate: Annotated[float, msgspec.Meta(ge=0)]
    over_s: Seconds = 0.0


class Burst(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """For `duration_s` from `at_s`, the rate is multiplied by `factor`."""

    at_s: Seconds
    duration_s: Positive
    factor: Positive


class Arrivals(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An open-loop Poisson process: the rate never depends on how fast answers come."""

    rate: Annotated[float, msgspec.Meta(gt=0, le=100_000)]  # calls/s at the start
    ramps: list[Ramp] = []
    bursts: list[Burst] = []

    def __post_init__(self) -> None:
        starts = [ramp.at_s for ramp in self.ramps]
        if starts != sorted(starts):
            raise ValueError("arrivals.ramps: give ramps in order of at_s")


class Mix(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    stream_share: Rate = 0.0  # chat calls with stream: true
    embeddings_share: Rate = 0.0  # /v1/embeddings calls; the rest is non-streaming chat

    def __post_init__(self) -> None:
        if self.stream_share + self.embeddings_share > 1:
            raise ValueError("mix: stream_share + embeddings_share must be at most 1")


class Provider(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The simulated provider's behaviour for the release's upstream model."""

    latency_ms: Annotated[float, msgspec.Meta(ge=0, le=60_000)] = 20.0  # median (log-normal)
    latency_sigma: Annotated[float, msgspec.Meta(ge=0, le=3)] = 0.3  # log-space spread
    chunk_delay_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 0.0  # between stream chunks
    error_rate: Rate = 0.0  # share of calls the provider fails…
    error_status: Annotated[int, msgspec.Meta(ge=400, le=599)] = 500  # …with this status (kind)
    quality: Rate = 0.8  # mean answer quality as users perceive it (their 0..1 scores)


class Feedback(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How users rate the release's answers (each successful chat call at most once)."""

    rating_probability: Rate = 0.3  # a call gets feedback at all
    thumbs_down: Rate = 0.1  # a thumb given is down
    score_share: Rate = 0.0  # a rating is a 0..1 score (around `quality`) instead of a thumb
    delay_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 1.0  # mean (exponential) delay


class Release(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    model: Name  # upstream model at the simulator; releases sharing one share its behaviour
    prompt: str | None = None  # system prompt text (a prompt version of the route)
    params: dict[str, Any] = {}
    provider: Provider = Provider()
    feedback: Feedback = Feedback()


class Route(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name = "rehearsal"
    stable: str = "r1"
    weights: dict[str, Percent] | None = None  # at the start; default: stable at 100


class WeightsAt(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    at_s: Seconds
    weights: dict[str, Percent]


class Schedule(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="schedule",
    tag_field="kind",
):
    """Manual flips at given times (repeated `repeat` times, every `period_s`)."""

    steps: list[WeightsAt]
    repeat: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    period_s: Seconds = 0.0

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("action.steps: give at least one step")
        times = [step.at_s for step in self.steps]
        if times != sorted(times):
            raise ValueError("action.steps: give steps in order of at_s")
        if self.repeat > 1 and self.period_s <= times[-1] - times[0]:
            raise ValueError("action.period_s: must exceed the time the steps span to repeat them")

    def flips(self) -> list[WeightsAt]:
        return [
            WeightsAt(at_s=step.at_s + n * self.period_s, weights=step.weights)
            for n in range(self.repeat)
            for step in self.steps
        ]


class Rollout(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="rollout",
    tag_field="kind",
):
    """A canary rollout started at `at_s` (fields as in POST /admin/routes/{route}/rollouts)."""

    at_s: Seconds
    release: str
    steps: list[float] | None = None
    min_bake_s: Seconds | None = None
    min_requests: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max_step_s: Positive | None = None
    guards: list[GuardIn] | None = None
    on_inconclusive: Literal["pause", "extend"] | None = None
    alpha: Annotated[float, msgspec.Meta(gt=0, lt=0.5)] | None = None


class Rollback(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="rollback",
    tag_field="kind",
):
    """All traffic back to the stable release at `at_s` (the route starts at `route.weights`)."""

    at_s: Seconds


Action = Schedule | Rollout | Rollback


class PinningClient(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A client that forces one release on every call (X-Turnout-Release), e.g. an eval job."""

    release: str
    rate: Annotated[float, msgspec.Meta(gt=0, le=100_000)]  # calls/s, Poisson
    from_s: Seconds = 0.0
    to_s: Seconds | None = None  # default: the end of the run
    users: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 50  # its own sticky keys


class Local(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The self-contained stack (`--local`)."""

    replicas: Annotated[int, msgspec.Meta(ge=1, le=8)] = 2  # `turnout gateway` processes
    flush_interval_s: Positive = 1.0  # gateways' telemetry batches
    poll_interval_s: Positive = 2.0  # gateways' revision safety net
    rollout_tick_s: Positive = 1.0  # controller looks
    rollout_settle_s: Seconds = 2.0  # after a flip, before the sample-ratio check


Outcome = Literal["promoted", "rolled_back", "held", "paused", "applied"]


class Expect(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What the run must show (checked by `--check` and CI)."""

    outcome: Outcome | None = None
    split_sigmas: Positive = 4.0  # observed user share within this many binomial SDs
    lost_calls: Annotated[int, msgspec.Meta(ge=0)] = 0  # at most this many


class Scenario(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name
    run: Run
    arrivals: Arrivals
    releases: dict[str, Release]
    description: str = ""
    population: Population = Population()
    mix: Mix = Mix()
    route: Route = Route()
    action: Action | None = None
    clients: list[PinningClient] = []
    local: Local = Local()
    expect: Expect = Expect()

    def __post_init__(self) -> None:
        _check_releases(self)
        _check_weights("route.weights", self.initial_weights(), self.releases)
        action = self.action
        if isinstance(action, Schedule):
            for index, step in enumerate(action.steps):
                _check_weights(f"action.steps[{index}].weights", step.weights, self.releases)
        elif isinstance(action, Rollout) and action.release not in self.releases:
            raise ValueError(f"action.release: {action.release!r} is not one of the releases")
        elif isinstance(action, Rollout) and action.release == self.route.stable:
            raise ValueError("action.release: the candidate must differ from route.stable")
        for index, client in enumerate(self.clients):
            if client.release not in self.releases:
                raise ValueError(f"clients[{index}].release: {client.release!r} is unknown")

    def initial_weights(self) -> dict[str, float]:
        return dict(self.route.weights or {self.route.stable: 100.0})

    def release_ids(self) -> list[str]:
        return sorted(self.releases, key=lambda r: int(r[1:]))


def _check_releases(scenario: Scenario) -> None:
    ids = scenario.releases
    numbers = sorted(int(m.group(1)) for r in ids if (m := _RELEASE_ID.match(r)))
    if len(numbers) != len(ids) or numbers != list(range(1, len(ids) + 1)):
        raise ValueError(
            f"releases: name them r1, r2, … in order (as the route numbers them), got {sorted(ids)}"
        )
    if scenario.route.stable not in ids:
        raise ValueError(f"route.stable: {scenario.route.stable!r} is not one of the releases")
    by_model: dict[str, tuple[str, Provider]] = {}
    for release_id, release in sorted(ids.items()):
        seen = by_model.setdefault(release.model, (release_id, release.provider))
        if seen[1] != release.provider:
            raise ValueError(
                f"releases.{release_id}.provider: {seen[0]} and {release_id} share model "
                f"{release.model!r}, and the simulator's behaviour is per model: give them "
                "the same provider behaviour or different models"
            )


def _check_weights(field: str, weights: dict[str, float], releases: dict[str, Release]) -> None:
    for release in weights:
        if release not in releases:
            raise ValueError(f"{field}: {release!r} is not one of the releases")
    if abs(sum(weights.values()) - 100) > 1e-9:
        raise ValueError(f"{field}: weights must sum to 100, got {sum(weights.values())}")
