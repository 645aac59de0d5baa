"""Pure validation rules and route transitions (no Redis)."""

import pytest

from control.errors import BadInput
from control.registry import rules
from control.routes import transitions
from gateway.contract.snapshot import PromptMessage, RouteState


def test_variables_come_from_system_and_messages_in_order():
    messages = [PromptMessage(role="user", content="About {{product}} for {{team}}")]
    assert rules.prompt_variables("Hi {{team}}", messages, None) == ["team", "product"]


@pytest.mark.parametrize(
    ("system", "messages", "field"),
    [
        ("Hi {{team", [], "system"),
        ("Hi {{ 1x }}", [], "system"),
        ("ok", [PromptMessage(role="user", content="}} oops")], "messages[0].content"),
        ("ok", [PromptMessage(role="robot", content="x")], "messages[0].role"),
        (None, [], "system"),
    ],
)
def test_bad_templates_name_the_field(system, messages, field):
    with pytest.raises(BadInput) as caught:
        rules.prompt_variables(system, messages, None)
    assert caught.value.field == field


def test_declared_variables_must_match_the_template():
    with pytest.raises(BadInput, match=r"uses \{\{product\}\}, which is not declared"):
        rules.prompt_variables("{{team}} {{product}}", [], ["team"])
    with pytest.raises(BadInput, match="'extra' is declared but the template never uses it"):
        rules.prompt_variables("{{team}}", [], ["team", "extra"])
    assert rules.prompt_variables("{{team}}", [], ["team"]) == ["team"]


@pytest.mark.parametrize("url", ["ftp://x/v1", "file:///etc/passwd", "localhost:8080", "http://"])
def test_provider_urls_must_be_http(url):
    with pytest.raises(BadInput, match="must be an http:// or https:// URL"):
        rules.check_base_url("base_url", url)
    rules.check_base_url("base_url", "https://api.openai.com/v1")


def test_env_names_not_keys():
    rules.check_env_name("api_key_env", "OPENAI_API_KEY")
    with pytest.raises(BadInput, match="never the key itself"):
        rules.check_env_name("api_key_env", "sk-proj-abc123")


@pytest.mark.parametrize("name", ["", "a b", "{x}", "x" * 65, "-lead", "a/b"])
def test_names_are_restricted_so_hash_tags_hold(name):
    with pytest.raises(BadInput):
        rules.check_name("name", name)


@pytest.mark.parametrize("ref", ["support", "support@0", "support@x", "@1", "a@1@2"])
def test_version_references(ref):
    with pytest.raises(BadInput, match="version reference"):
        rules.parse_ref("prompt", ref)
    assert rules.parse_ref("prompt", "support@12") == ("support", 12)


def test_reserved_params_are_refused():
    with pytest.raises(BadInput) as caught:
        rules.check_params("params", {"temperature": 0.1, "messages": []})
    assert caught.value.field == "params.messages"


STATE = RouteState(
    name="bot", revision=7, stable="r1", weights_bp={"r1": 5000, "r3": 5000}, pinned=True
)


def test_rollback_restores_stable_at_100_from_any_state():
    after = transitions.rollback(STATE, None, {"r1", "r2", "r3"})
    assert (after.revision, after.stable, after.weights_bp) == (8, "r1", {"r1": 10_000})
    assert after.pinned is True  # a pin stops automation, not an operator
    to = transitions.rollback(STATE, "r2", {"r1", "r2", "r3"})
    assert (to.stable, to.weights_bp) == ("r2", {"r2": 10_000})


def test_transitions_refuse_unknown_releases():
    with pytest.raises(BadInput) as caught:
        transitions.flip(STATE, {"r1": 5000, "r9": 5000}, {"r1", "r3"})
    assert caught.value.field == "weights.r9"
    with pytest.raises(BadInput) as caught:
        transitions.promote(STATE, "r9", {"r1"})
    assert caught.value.field == "release"


def test_promote_and_pin():
    promoted = transitions.promote(STATE, "r3", {"r1", "r3"})
    assert (promoted.revision, promoted.stable, promoted.weights_bp) == (8, "r3", {"r3": 10_000})
    assert transitions.pinned(STATE, False).pinned is False
    touched = transitions.touched(STATE)
    assert touched.revision == 8
    assert (touched.stable, touched.weights_bp, touched.pinned) == ("r1", STATE.weights_bp, True)
