"""Process settings: one loader, one clear line for a bad value, secrets not printed."""

from turnout.cli import build_parser, main
from turnout.up import redacted


def test_bad_port_variable_is_one_clear_line_for_the_process_only(monkeypatch, capsys):
    monkeypatch.setenv("TURNOUT_PORT", "eighty")
    build_parser()  # other commands (lint, routes, …) are not affected
    assert main(["gateway", "--redis-url", "redis://127.0.0.1:1/0"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("turnout: invalid setting")
    assert "port" in error and "\n" not in error


def test_turnout_redis_url_wins_over_redis_url_for_every_process(monkeypatch):
    from control.settings import load_settings as control_settings
    from gateway.settings import load_settings as gateway_settings

    monkeypatch.setenv("REDIS_URL", "redis://general:6379/0")
    monkeypatch.setenv("TURNOUT_REDIS_URL", "redis://turnout:6379/0")
    monkeypatch.setenv("TURNOUT_ADMIN_TOKENS", "a:admin:0123456789abcdef0123")
    assert gateway_settings({}).redis_url == "redis://turnout:6379/0"
    assert control_settings({}).redis_url == "redis://turnout:6379/0"


def test_banner_hides_the_redis_password():
    assert redacted("redis://user:hunter2@cache:6379/0") == "redis://user:***@cache:6379/0"
    assert redacted("unix:///data/redis.sock") == "unix:///data/redis.sock"


def test_turnout_up_reads_every_control_setting_through_the_one_loader(monkeypatch, tmp_path):
    from turnout.up import plan_up

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("TURNOUT_REDIS_URL", raising=False)
    monkeypatch.setenv("TURNOUT_AUDIT_MAX_ENTRIES", "5000")
    monkeypatch.setenv("TURNOUT_ADMIN_PORT", "18181")
    monkeypatch.setenv("TURNOUT_SIM_PORT", "18190")
    args = build_parser().parse_args(["up", "--demo", "--data-dir", str(tmp_path)])
    from turnout.cli import gateway_settings

    plan = plan_up(args, gateway_settings(args))
    assert plan.control.audit_max_entries == 5000
    assert (plan.control.port, plan.sim_port) == (18181, 18190)
    assert plan.control.redis_url == f"unix://{tmp_path.resolve()}/redis/redis.sock"


def test_a_bad_variable_names_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("TURNOUT_SIM_PORT", "99999")
    assert main(["up", "--demo", "--redis-url", "redis://127.0.0.1:1/0"]) == 1
    error = capsys.readouterr().err.strip()
    assert "TURNOUT_SIM_PORT" in error and "\n" not in error


def test_rollout_policies_from_the_environment_override_per_change_type(monkeypatch):
    import pytest

    from control.rollout.model import RolloutIn
    from control.rollout.policy import resolve
    from control.settings import SettingsError, load_settings

    monkeypatch.setenv("TURNOUT_REDIS_URL", "redis://turnout:6379/0")
    monkeypatch.setenv(
        "TURNOUT_ROLLOUT_POLICIES",
        '{"params": {"steps": [50, 100], "min_bake_s": 30, "min_requests": 10, '
        '"max_step_s": 600, "guards": [{"metric": "error_rate"}]}}',
    )
    policies = load_settings({}).rollout_policies
    chosen, source = resolve(RolloutIn(release="r2", reason="x"), "params", policies)
    assert chosen.steps == [50, 100] and chosen.min_bake_s == 30 and source == "params defaults"
    model, _ = resolve(RolloutIn(release="r2", reason="x"), "model", policies)
    assert model.steps == [1, 5, 10, 25, 50, 100]  # the other types keep their defaults
    monkeypatch.setenv("TURNOUT_ROLLOUT_POLICIES", "{not json")
    with pytest.raises(SettingsError, match="rollout_policies"):
        load_settings({})
