"""Webhook Structs: subscriptions, events, deliveries. Shapes and rules only; no I/O here.

A subscription never holds its signing secret: only the name of the environment variable of the
control plane that holds it (like providers' keys).
"""

import re
from typing import Annotated, Any, Literal, get_args

import msgspec

from control.durations import Time
from control.errors import BadInput
from control.registry import rules
from control.registry.rules import anchored

# An http(s) URL: a host (name, IPv4, [IPv6], optional port; no credentials), then any printable
# ASCII. The server matches it in full and the schema states it (ASCII classes: same in ECMA).
WEBHOOK_URL_PATTERN = r"https?://[A-Za-z0-9._~%:\[\]-]+(?:[/?#][!-~]*)?"
_URL = re.compile(WEBHOOK_URL_PATTERN)
EventType = Literal[
    "*",
    "release.created",
    "weights.changed",
    "rollout.started",
    "rollout.step",
    "rollout.paused",
    "rollout.rolled_back",
    "rollout.completed",
    "gate.verdict",
    "freeze.started",
    "freeze.ended",
    "emergency.change",
    "review.needed",
    "review.acknowledged",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)[1:]  # without "*"


class WebhookIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[
        str,
        msgspec.Meta(
            max_length=2000,
            description="an http:// or https:// URL (no credentials)",
            extra_json_schema={"pattern": anchored(WEBHOOK_URL_PATTERN)},
        ),
    ]
    events: Annotated[list[EventType], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["*"]
    )  # event types, or "*" for all
    route: rules.Name | None = None  # only this route's events (and global ones); None: all
    secret_env: rules.KeyEnvName  # the control plane's env variable holding the HMAC secret
    format: Literal["json", "slack"] = "json"  # slack: {"text": …} for an incoming webhook
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8  # then dead-lettered
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0  # per attempt


class Webhook(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    url: str
    events: list[str]
    route: str | None
    secret_env: str
    format: Literal["json", "slack"]
    max_attempts: int
    timeout_s: float
    author: str = ""

    def wants(self, event_type: str, route: str | None) -> bool:
        scoped = self.route is None or route is None or route == self.route
        return scoped and ("*" in self.events or event_type in self.events)


class WebhookOut(msgspec.Struct, frozen=True, kw_only=True):
    webhook: Webhook
    created: bool = True


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """What a subscriber receives (JSON format), one per route change or window transition."""

    id: str  # stable: the same event redelivered keeps its id
    type: str
    time: Time
    route: str | None  # None: a global window
    actor: str
    reason: str
    audit_id: str | None = None
    revision: int | None = None
    detail: dict[str, Any] = {}  # before/after weights, release, evidence, window, review, …
    impact: list[dict[str, Any]] = []  # per release with traffic: calls, users, errors, downs


Status = Literal["pending", "delivered", "dead"]


class Delivery(msgspec.Struct, kw_only=True):
    """One event for one webhook; its attempts are the delivery log."""

    id: str
    webhook: str
    queue: str  # per (webhook, route): deliveries of one queue go out in order
    event: Event
    status: Status = "pending"
    attempts: int = 0
    next_at: float = 0.0  # epoch s of the next attempt
    last_status: int | None = None  # HTTP status of the last attempt, if any
    last_error: str | None = None
    created_at: float = 0.0
    delivered_at: float | None = None
    log: list[str] = []  # one line per attempt: time, status or error, delay before the next


def build(name: str, body: WebhookIn, actor: str) -> Webhook:
    if not _URL.fullmatch(body.url):
        raise BadInput(
            "url: must be an http:// or https:// URL (a host, no credentials or spaces)",
            field="url",
        )
    rules.check_env_name("secret_env", body.secret_env)
    if body.route is not None:
        rules.check_name("route", body.route)
    return Webhook(
        name=name,
        url=body.url,
        events=[str(kind) for kind in body.events],
        route=body.route,
        secret_env=body.secret_env,
        format=body.format,
        max_attempts=body.max_attempts,
        timeout_s=body.timeout_s,
        author=actor,
    )
