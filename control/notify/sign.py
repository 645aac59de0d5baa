"""Signing and formatting a delivery's body. Pure; no I/O, no clock (the timestamp is given).

Signature: HMAC-SHA256 with the webhook's secret over `"{timestamp}.{body}"`, sent as
`X-Turnout-Signature: sha256=<hex>` with `X-Turnout-Timestamp: <unix seconds>`. A receiver
recomputes it over the raw body and rejects old timestamps (replays).
"""

import hashlib
import hmac

import msgspec

from control.notify.model import Event

_encoder = msgspec.json.Encoder()


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """The receiver's check (also the documented snippet's logic)."""
    try:
        expected = signature(secret, int(timestamp), body)
    except ValueError:
        return False
    return hmac.compare_digest(expected, header)


def summary(event: Event) -> str:
    """One line for humans (Slack): what happened, where, by whom, and its reach."""
    where = f"route {event.route}" if event.route else "all routes"
    text = f"[turnout] {event.type} on {where} by {event.actor}"
    if event.reason:
        text += f": {event.reason}"
    reach = [
        f"{i['release']} {i['calls']} calls / {i['distinct_users']} users / {i['errors']} errors"
        for i in event.impact
    ]
    if reach:
        text += " (last hour: " + "; ".join(reach) + ")"
    return text


def body(event: Event, fmt: str) -> bytes:
    if fmt == "slack":
        return _encoder.encode({"text": summary(event)})
    return _encoder.encode(event)
