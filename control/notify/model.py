"""Webhook Structs: subscriptions, events, deliveries. Shapes and rules only; no I/O here.

A subscription never holds its signing secret: only the name of the environment variable of the
control plane that holds it (like providers' keys).
"""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from control.errors import BadInput

EVENT_TYPES = (
    "release.created",
    "weights.changed",  # flip, promote, rollback, kill switch: the route's pointer moved
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
)
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class WebhookIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]  # http(s)
    events: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["*"]
    )  # event types, or "*" for all
    route: str | None = None  # only this route's events (and global ones); None: every route
    secret_env: str  # name of the control plane's env variable holding the HMAC secret
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


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """What a subscriber receives (JSON format), one per route change or window transition."""

    id: str  # stable: the same event redelivered keeps its id
    type: str
    time: datetime
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
    if not body.url.startswith(("http://", "https://")):
        raise BadInput("url: must be an http:// or https:// URL", field="url")
    if not _ENV.match(body.secret_env):
        raise BadInput(
            "secret_env: must name an environment variable (letters, digits, _)",
            field="secret_env",
        )
    if body.secret_env.startswith("TURNOUT_") or body.secret_env == "REDIS_URL":
        raise BadInput(
            f"secret_env: {body.secret_env} is a Turnout setting; name another variable",
            field="secret_env",
        )
    for index, kind in enumerate(body.events):
        if kind != "*" and kind not in EVENT_TYPES:
            raise BadInput(
                f"events[{index}]: unknown event type {kind!r} (known: {', '.join(EVENT_TYPES)})",
                field=f"events[{index}]",
            )
    return Webhook(
        name=name,
        url=body.url,
        events=body.events,
        route=body.route,
        secret_env=body.secret_env,
        format=body.format,
        max_attempts=body.max_attempts,
        timeout_s=body.timeout_s,
        author=actor,
    )
