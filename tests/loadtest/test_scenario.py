"""Scenario files: the shipped ones load (full and short), and bad ones fail naming the field."""

from pathlib import Path

import pytest

from loadtest.rehearsal.scenario import Rollout, Schedule
from loadtest.rehearsal.scenario_file import ScenarioError, load, parse

SCENARIOS = Path(__file__).resolve().parents[2] / "loadtest" / "scenarios"

BASE = """
name = "t"
[run]
duration_s = 10
[arrivals]
rate = 100
[releases.r1]
model = "a"
[releases.r2]
model = "b"
"""


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("short", [False, True])
def test_every_shipped_scenario_loads_full_and_short(path: Path, short: bool):
    scenario = load(path, short=short)
    assert (scenario.expect.outcome is not None) == (scenario.action is not None)
    if short:
        assert scenario.run.duration_s <= 60, "the CI form must stay short"


def test_short_overlays_only_what_it_names():
    scenario = load(SCENARIOS / "bad-prompt.toml", short=True)
    full = load(SCENARIOS / "bad-prompt.toml")
    assert scenario.releases["r2"].feedback.rating_probability == 1.0
    assert scenario.releases["r2"].feedback.thumbs_down == full.releases["r2"].feedback.thumbs_down
    assert scenario.releases["r2"].prompt == full.releases["r2"].prompt
    assert isinstance(scenario.action, Rollout) and isinstance(full.action, Rollout)
    assert scenario.action.steps == [50, 100] and full.action.steps == [5, 25, 50, 100]
    assert scenario.action.guards == full.action.guards


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[releases.r1.feedback]\nthumbs_down = 1.4", "$.releases.r1.feedback.thumbs_down"),
        ("[releases.r2.provider]\nlatency_sigma = -1", "$.releases.r2.provider.latency_sigma"),
        ("[releases.r1.feedbak]\nthumbs_down = 0.1", "unknown field `feedbak`"),
        ("[mix]\nstream_share = 0.7\nembeddings_share = 0.5", "mix: stream_share"),
        ("[population]\nactivity = 'pareto'", "$.population.activity"),
        ("[route]\nstable = 'r9'", "route.stable"),
        ("[route]\nweights = {r1 = 90, r2 = 5}", "route.weights: weights must sum to 100"),
        ("[route]\nweights = {r1 = 90, r3 = 10}", "route.weights: 'r3'"),
        ("[action]\nkind = 'rollout'\nat_s = 1\nrelease = 'r7'", "action.release"),
        ("[action]\nkind = 'rollout'\nat_s = 1\nrelease = 'r1'", "must differ from route.stable"),
        ("[action]\nkind = 'teleport'\nat_s = 1", "$.action.kind"),
        (
            "[action]\nkind = 'rollout'\nat_s = 1\nrelease = 'r2'\nguards = [{metric = 'vibes'}]",
            "$.action.guards[0].metric",
        ),
        ("[action]\nkind = 'schedule'\nsteps = []", "action.steps"),
        (
            "[action]\nkind = 'schedule'\nsteps = [{at_s = 1, weights = {r1 = 50}}]",
            "action.steps[0].weights",
        ),
        ("[[clients]]\nrelease = 'r5'\nrate = 3", "clients[0].release"),
        ("[local]\nreplicaz = 2", "unknown field `replicaz`"),
        ("[local]\nreplicas = 0", "$.local.replicas"),
    ],
)
def test_a_bad_scenario_names_the_field(extra: str, message: str):
    with pytest.raises(ScenarioError) as caught:
        parse(BASE + extra, "s.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("s.toml: ")


def test_releases_must_be_numbered_like_the_route_numbers_them():
    text = BASE.replace("[releases.r2]", "[releases.r3]")
    with pytest.raises(ScenarioError, match=r"name them r1, r2"):
        parse(text)


def test_releases_sharing_a_model_must_share_its_simulated_behaviour():
    text = BASE.replace('model = "b"', 'model = "a"\nprovider = { error_rate = 0.5 }')
    with pytest.raises(ScenarioError, match=r"releases.r2.provider: r1 and r2 share model 'a'"):
        parse(text)
    same = BASE.replace('model = "b"', 'model = "a"\nprompt = "other"')
    assert parse(same).releases["r2"].prompt == "other"


def test_not_toml_and_missing_files_and_short_without_a_short_table(tmp_path: Path):
    with pytest.raises(ScenarioError, match=r"x.toml: not valid TOML"):
        parse("name = ", "x.toml")
    with pytest.raises(ScenarioError, match=r"cannot read scenario"):
        load(tmp_path / "absent.toml")
    with pytest.raises(ScenarioError, match=r"--short needs a \[short\] table"):
        parse(BASE, short=True)
    with pytest.raises(ScenarioError, match=r"with its \[short\] overlay: .*\$.run.duration_s"):
        parse(BASE + "[short.run]\nduration_s = -3", short=True)


def test_a_schedule_repeats_its_steps_every_period():
    text = BASE + (
        "[action]\nkind = 'schedule'\nrepeat = 3\nperiod_s = 2\n"
        "steps = [{at_s = 1, weights = {r1 = 90, r2 = 10}}, {at_s = 1.5, weights = {r1 = 100}}]"
    )
    action = parse(text).action
    assert isinstance(action, Schedule)
    assert [f.at_s for f in action.flips()] == [1, 1.5, 3, 3.5, 5, 5.5]
    with pytest.raises(ScenarioError, match=r"action.period_s"):
        parse(text.replace("period_s = 2", "period_s = 0.4"))


def test_command_line_overrides_are_checked_like_the_file():
    import argparse

    from loadtest.rehearsal.execute import overridden

    scenario = load(SCENARIOS / "bad-prompt.toml")
    same = overridden(scenario, argparse.Namespace(duration=None, seed=None, replicas=None))
    assert same == scenario
    changed = overridden(scenario, argparse.Namespace(duration=12.5, seed=9, replicas=3))
    assert (changed.run.duration_s, changed.run.seed, changed.local.replicas) == (12.5, 9, 3)
    with pytest.raises(ScenarioError, match=r"override: .*\$.local.replicas"):
        overridden(scenario, argparse.Namespace(duration=None, seed=None, replicas=0))
    with pytest.raises(ScenarioError, match=r"\$.run.duration_s"):
        overridden(scenario, argparse.Namespace(duration=-1.0, seed=None, replicas=None))
