"""Applying a release to a caller's body: model, rendered prompt, params. Pure; no I/O.

Precedence of parameters (lowest first): the model version's defaults, the caller's own fields,
the release's `params`. The release is the versioned, reviewed choice, so it has the last word.
"""

from typing import Any

from gateway.errors import bad_request
from gateway.render import MissingVariableError, VariableTypeError
from gateway.routing import ServedRelease


def apply_chat(release: ServedRelease, body: dict[str, Any]) -> dict[str, Any]:
    variables = body.pop("prompt_variables", None)
    if variables is not None and not isinstance(variables, dict):
        raise bad_request("'prompt_variables' must be an object", param="prompt_variables")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("'messages' must be an array of messages", param="messages")
    payload = {**release.defaults, **body} if release.defaults else body
    if release.overrides:
        payload.update(release.overrides)
    payload["model"] = release.upstream_model
    if release.prompt is not None:
        try:
            rendered = release.prompt.render_messages(variables or {})
        except MissingVariableError as missing:
            raise bad_request(
                f"prompt {release.prompt.ref} needs the variable {missing.name!r} in "
                "'prompt_variables'",
                param=f"prompt_variables.{missing.name}",
                code="missing_prompt_variable",
            ) from None
        except VariableTypeError as wrong:
            raise bad_request(
                f"prompt variable {wrong.name!r} must be a string or a number, not "
                f"{wrong.json_type}",
                param=f"prompt_variables.{wrong.name}",
                code="invalid_prompt_variable",
            ) from None
        payload["messages"] = rendered + messages
    return payload


def apply_embeddings(release: ServedRelease, body: dict[str, Any]) -> dict[str, Any]:
    """Embeddings take only the release's model: chat prompts and params do not apply."""
    body.pop("prompt_variables", None)
    body["model"] = release.upstream_model
    return body
