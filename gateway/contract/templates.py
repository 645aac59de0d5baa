"""Prompt template parsing: `{{variable}}` placeholders, shared by gateway and control.

The gateway compiles templates to render them per call; the control plane parses them to validate
a new prompt version and list its variables. Pure; no I/O.
"""

import re

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

# A compiled template: literal text and variable names, alternating (text, var, text, …, text).
Compiled = tuple[str, ...]


class TemplateSyntaxError(ValueError):
    """A template whose placeholders do not parse."""


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
