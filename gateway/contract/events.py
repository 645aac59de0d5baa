"""Pub/sub change events: a tagged union published on `keys.CHANGES_CHANNEL`.

Events only say *what* changed; gateways then read the new state from Redis in their sync task,
so a lost or reordered message can never leave a replica with half a change.
"""

import msgspec


class RouteChanged(msgspec.Struct, frozen=True, tag="route"):
    route: str
    revision: int


class RouteDeleted(msgspec.Struct, frozen=True, tag="route_deleted"):
    route: str


class ProvidersChanged(msgspec.Struct, frozen=True, tag="providers"):
    pass


ChangeEvent = RouteChanged | RouteDeleted | ProvidersChanged

event_decoder = msgspec.json.Decoder(ChangeEvent)
event_encoder = msgspec.json.Encoder()
