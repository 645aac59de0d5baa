"""Typed keys for state held on the gateway's aiohttp Application."""

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.context import GatewayContext

CONTEXT = web.AppKey("turnout_gateway_context", GatewayContext)
REGISTRY = web.AppKey("turnout_gateway_registry", CollectorRegistry)
