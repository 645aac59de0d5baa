"""Prompt templates: compiled once (parsing lives in `gateway.contract.templates`), rendered per
call. Pure; no I/O."""

from collections.abc import Mapping
from typing import Any

import msgspec

from gateway.contract.snapshot import PromptSpec
from gateway.contract.templates import Compiled, compile_template

# Re-exported: the parsing functions moved to the contract so the control plane can share them.
from gateway.contract.templates import TemplateSyntaxError as TemplateSyntaxError
from gateway.contract.templates import template_variables as template_variables


class MissingVariableError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class VariableTypeError(TypeError):
    """A variable that is not a string or a number: rendering it would put a Python repr
    (`True`, `None`, `{'a': 1}`) into the prompt."""

    def __init__(self, name: str, value: object) -> None:
        super().__init__(name)
        self.name = name
        self.json_type = _JSON_TYPES.get(type(value), type(value).__name__)


_JSON_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


def render(compiled: Compiled, variables: Mapping[str, Any]) -> str:
    if len(compiled) == 1:
        return compiled[0]
    out: list[str] = []
    for index, part in enumerate(compiled):
        if index % 2 == 0:
            out.append(part)
            continue
        try:
            value = variables[part]
        except KeyError:
            raise MissingVariableError(part) from None
        if isinstance(value, str):
            out.append(value)
        elif type(value) in (int, float):  # not bool: str(True) is Python's spelling
            out.append(str(value))
        else:
            raise VariableTypeError(part, value)
    return "".join(out)


class CompiledPrompt(msgspec.Struct, frozen=True):
    """A prompt version ready to render: (role, compiled content) pairs, system first."""

    ref: str
    messages: tuple[tuple[str, Compiled], ...]

    def render_messages(self, variables: Mapping[str, Any]) -> list[dict[str, str]]:
        return [{"role": role, "content": render(text, variables)} for role, text in self.messages]


def compile_prompt(spec: PromptSpec) -> CompiledPrompt:
    pairs: list[tuple[str, Compiled]] = []
    if spec.system is not None:
        pairs.append(("system", compile_template(spec.system)))
    pairs.extend((m.role, compile_template(m.content)) for m in spec.messages)
    return CompiledPrompt(ref=spec.ref, messages=tuple(pairs))
