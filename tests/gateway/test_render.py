"""Template parsing and rendering."""

import pytest

from gateway.contract.snapshot import PromptMessage, PromptSpec
from gateway.render import (
    MissingVariableError,
    TemplateSyntaxError,
    VariableTypeError,
    compile_prompt,
    compile_template,
    render,
    template_variables,
)


def test_variables_in_first_seen_order():
    assert template_variables("{{b}} and {{ a }} and {{b}}") == ["b", "a"]


def test_render_fills_values_and_stringifies():
    assert render(compile_template("n={{n}}, s={{s}}"), {"n": 3, "s": "x"}) == "n=3, s=x"


def test_text_without_placeholders_is_returned_as_is():
    assert render(compile_template("plain {text}"), {}) == "plain {text}"


def test_missing_variable_is_named():
    with pytest.raises(MissingVariableError) as raised:
        render(compile_template("hi {{name}}"), {})
    assert raised.value.name == "name"


@pytest.mark.parametrize("bad", ["{{ name", "name }}", "{{1x}}", "{{a-b}}", "{{}}"])
def test_bad_placeholders_do_not_parse(bad):
    with pytest.raises(TemplateSyntaxError):
        compile_template(bad)


def test_prompt_messages_render_system_first():
    spec = PromptSpec(
        ref="p@1",
        system="sys {{a}}",
        messages=[PromptMessage(role="user", content="example {{b}}")],
        variables=["a", "b"],
    )
    assert compile_prompt(spec).render_messages({"a": 1, "b": 2}) == [
        {"role": "system", "content": "sys 1"},
        {"role": "user", "content": "example 2"},
    ]


@pytest.mark.parametrize(
    ("value", "json_type"),
    [(True, "boolean"), (None, "null"), ({"a": 1}, "object"), ([1], "array")],
)
def test_a_variable_that_would_render_as_a_python_repr_is_refused(value, json_type):
    with pytest.raises(VariableTypeError) as raised:
        render(compile_template("hi {{name}}"), {"name": value})
    assert raised.value.name == "name" and raised.value.json_type == json_type
