"""Admin endpoints for webhooks: subscriptions, the delivery log, redelivery by id."""

from typing import Annotated, Literal

import msgspec

from control.api.endpoint import Call, endpoint
from control.notify import outbox
from control.notify.model import Delivery, Webhook, WebhookIn, WebhookOut, build
from control.registry import rules


class DeliveriesQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    webhook: str | None = None
    status: Literal["pending", "delivered", "dead"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100  # the newest, oldest first


@endpoint(
    "PUT",
    "/admin/webhooks/{name}",
    role="admin",
    summary="Create or replace a webhook (the signing secret stays in the named env variable)",
    status=201,
)
async def put_webhook(call: Call, body: WebhookIn) -> WebhookOut:
    name = rules.check_name("name", call.param("name"))
    webhook = build(name, body, call.actor)
    created = await outbox.put_webhook(call.store.redis, webhook)
    return WebhookOut(webhook=webhook, created=created)


@endpoint("GET", "/admin/webhooks", role="viewer", summary="Webhooks")
async def list_webhooks(call: Call) -> list[Webhook]:
    return await outbox.load_webhooks(call.store.redis)


@endpoint("DELETE", "/admin/webhooks/{name}", role="admin", summary="Delete a webhook")
async def delete_webhook(call: Call) -> list[Webhook]:
    await outbox.delete_webhook(call.store.redis, call.param("name"))
    return await outbox.load_webhooks(call.store.redis)


@endpoint(
    "GET",
    "/admin/webhook-deliveries",
    role="viewer",
    summary="The delivery log: status, attempts, last HTTP status or error, per-attempt lines",
)
async def list_deliveries(call: Call, query: DeliveriesQuery) -> list[Delivery]:
    return await outbox.listing(call.store.redis, query.webhook, query.status, query.limit)


@endpoint(
    "POST",
    "/admin/webhook-deliveries/{delivery}/redeliver",
    role="operator",
    summary="Queue a delivery again (a dead letter, or a delivered one to replay)",
)
async def redeliver(call: Call) -> Delivery:
    return await outbox.redeliver(call.store.redis, call.param("delivery"), call.now().timestamp())


ENDPOINTS = [put_webhook, list_webhooks, delete_webhook, list_deliveries, redeliver]
