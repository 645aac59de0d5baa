"""The admin token of `turnout up`: TURNOUT_ADMIN_TOKENS when set, else one generated on the
first start and kept in the data dir (readable by its owner only) for the next starts and the CLI.
"""

import os
import secrets
from pathlib import Path

from control.cli.client import TOKEN_FILE

GENERATED_NAME = "admin"


def admin_tokens(data_dir: str) -> tuple[str, str | None]:
    """(the TURNOUT_ADMIN_TOKENS value to use, the token if it was generated just now)."""
    configured = os.environ.get("TURNOUT_ADMIN_TOKENS")
    if configured:
        return configured, None
    path = Path(data_dir) / TOKEN_FILE
    fresh: str | None = None
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        token = fresh = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(token + "\n")
    return f"{GENERATED_NAME}:admin:{token}", fresh
