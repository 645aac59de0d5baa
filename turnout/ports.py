"""Port checks before a process starts: a taken port is one line naming it and the flag that
changes it, never a bind traceback after half the process has started."""

import errno
import socket

from gateway.contract.settings import SettingsError


class PortInUse(SettingsError):
    """A listening port is taken (or asked for twice); the message names the flag."""


def check_free(host: str, port: int, what: str, flag: str) -> None:
    """Bind and release (host, port) as the server will (SO_REUSEADDR, no SO_REUSEPORT, so a
    port shared through SO_REUSEPORT by a running gateway counts as taken)."""
    if port == 0:
        return
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} ({what}) is already in use on {host}: stop what holds it, or "
                f"pass {flag} to use another"
            ) from None
        raise PortInUse(f"cannot listen on {host}:{port} ({what}): {error.strerror}") from None


def check_distinct(ports: list[tuple[int, str, str]]) -> None:
    """(port, what, flag) of one process: the same port asked for twice is one clear line."""
    seen: dict[int, str] = {}
    for port, what, flag in ports:
        if port and port in seen:
            raise PortInUse(
                f"port {port} is asked for both {seen[port]} and {what}: pass {flag} to use another"
            )
        seen[port] = what
