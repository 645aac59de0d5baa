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
