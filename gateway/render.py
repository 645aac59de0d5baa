"""Prompt templates: parse `{{variable}}` placeholders once, render per call. Pure; no I/O."""

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from gateway.contract.snapshot import PromptSpec

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateSyntaxError(ValueError):
    """A template whose placeholders do not parse."""


class MissingVariableError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


# A compiled template: literal text and variable names, alternating (text, var, text, …, text).
Compiled = tuple[str, ...]


def compile_template(text: str) -> Compiled:
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[position : match.start()])
        parts.append(match.group(1))
        position = match.end()
    parts.append(text[position:])
    for literal in parts[::2]:
        if "{{" in literal or "}}" in literal:
            raise TemplateSyntaxError(
                f"unbalanced or invalid placeholder near {literal.strip()[:40]!r}; "
                "placeholders look like {{name}} with a letter or _ first"
            )
    return tuple(parts)


def template_variables(text: str) -> list[str]:
    """Variable names in first-seen order; raises TemplateSyntaxError on a bad placeholder."""
    names = compile_template(text)[1::2]
    return list(dict.fromkeys(names))


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
        out.append(value if isinstance(value, str) else str(value))
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
