"""Typed keys for state held on the gateway's aiohttp Application."""

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.context import GatewayContext

CONTEXT = web.AppKey("turnout_gateway_context", GatewayContext)
REGISTRY = web.AppKey("turnout_gateway_registry", CollectorRegistry)
# The tags of a call past resolution, for the error layer to put on an unexpected 500.
CALL_TAGS = web.RequestKey("turnout_call_tags", dict[str, str])
