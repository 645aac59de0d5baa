"""Running the control plane on its own (`turnout control`): the admin API on one port."""

import logging

from aiohttp import web

from control.api.app import build_admin_app
from control.api.auth import parse_tokens
from control.settings import ControlSettings
from gateway.contract.settings import SettingsError

log = logging.getLogger("turnout.control")


def serve(settings: ControlSettings) -> None:
    if not parse_tokens(settings.admin_tokens):
        raise SettingsError(
            "TURNOUT_ADMIN_TOKENS is empty: set it to name:role:token,… (roles viewer, operator, "
            "admin) so the admin API can authenticate anyone"
        )
    log.info("admin API listening on http://%s:%d/admin", settings.host, settings.port)
    log.info("dashboard on http://%s:%d/ui/", settings.host, settings.port)
    web.run_app(
        build_admin_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
    )
