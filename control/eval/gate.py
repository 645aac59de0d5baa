"""The gate as stored: a verdict per candidate release in Redis, and whether it still holds.

A verdict is stale when the baseline it was measured against is no longer the route's stable
release, when a later verdict on the route used another dataset (the route's current eval set),
or when the judge route no longer serves the judge release that rated it. Reads and writes only
the route's own keys at its home (`keys.route_home`), and the judge route's state.
"""

from typing import Literal

import msgspec
from redis.asyncio.client import Pipeline

from control import homes, keyspace
from control.errors import BadInput, NotFound
from control.eval.record import GateRecord, markdown
from control.routes import views
from control.store import Store, text
from gateway.contract import keys

Status = Literal["none", "pass", "fail", "insufficient", "stale"]
_record_decoder = msgspec.json.Decoder(GateRecord)
_encoder = msgspec.json.Encoder()


class GateView(msgspec.Struct, frozen=True, kw_only=True):
    route: str
    release: str
    status: Status  # the verdict's outcome, "stale" when it no longer holds, "none" without one
    passing: bool  # a rollout may start without skip_gate
    stale: list[str]  # why the verdict no longer holds
    record: GateRecord | None
    report: str | None  # Markdown


def staleness(
    record: GateRecord, stable: str, dataset_hash: str | None, judge_stable: str | None
) -> list[str]:
    """Why `record` no longer holds (empty: it does). Pure."""
    reasons = []
    if record.baseline != stable:
        reasons.append(f"baseline {record.baseline} is no longer stable (stable is {stable})")
    if dataset_hash is not None and dataset_hash != record.dataset_hash:
        reasons.append(
            f"the route's eval dataset changed ({record.dataset_hash[:19]}… → {dataset_hash[:19]}…)"
        )
    if record.judge is not None and judge_stable != record.judge.release:
        now = f"serves {judge_stable}" if judge_stable else "is gone"
        reasons.append(
            f"the judge changed: route {record.judge.route} {now}, the verdict used "
            f"{record.judge.release}"
        )
    return reasons


async def save(store: Store, record: GateRecord) -> None:
    data = await views.read(store, record.route)
    for field, release in (("candidate", record.candidate), ("baseline", record.baseline)):
        if release not in data.releases:
            raise BadInput(
                f"{field}: release {release!r} does not exist on route {record.route!r}",
                field=field,
            )
    if record.candidate == record.baseline:
        raise BadInput("candidate: must differ from the baseline", field="candidate")
    route = record.route
    group = await homes.group_of(store.redis, route)
    marker_key = keys.route_moved(route, group)

    async def write(pipe: Pipeline) -> None:  # one slot: the route's home
        marker = await pipe.get(marker_key)  # watched: a move starting now retries this
        if marker is not None:
            raise homes.busy(route, text(marker))
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.hset(keyspace.gates(route, group), record.candidate, _encoder.encode(record))
        pipe.set(keyspace.gate_dataset(route, group), record.dataset_hash)

    await store.redis.transaction(write, marker_key)


async def _judge_stable(store: Store, record: GateRecord) -> str | None:
    if record.judge is None:
        return None
    judge = record.judge.route
    raw = await store.redis.get(keys.route_state(judge, await homes.group_of(store.redis, judge)))
    return views.decode_state(raw).stable if raw is not None else None


async def view(store: Store, route: str, release: str) -> GateView:
    data = await views.read(store, route)
    if release not in data.releases:
        raise NotFound(f"release {release!r} does not exist on route {route!r}", field="release")
    group = await homes.group_of(store.redis, route)
    raw = await store.redis.hget(keyspace.gates(route, group), release)
    if raw is None:
        return GateView(
            route=route,
            release=release,
            status="none",
            passing=False,
            stale=[],
            record=None,
            report=None,
        )
    record = _record_decoder.decode(raw)
    current = await store.redis.get(keyspace.gate_dataset(route, group))
    stale = staleness(
        record,
        data.state.stable,
        text(current) if current is not None else None,
        await _judge_stable(store, record),
    )
    status: Status = "stale" if stale else record.verdict.outcome
    return GateView(
        route=route,
        release=release,
        status=status,
        passing=status == "pass",
        stale=stale,
        record=record,
        report=markdown(record, stale),
    )


async def statuses(store: Store, route: str) -> dict[str, Status]:
    """Release id -> gate status, for every release with a verdict."""
    key = keyspace.gates(route, await homes.group_of(store.redis, route))
    ids = views.sorted_ids([text(r) for r in await store.redis.hkeys(key)])
    return {r: (await view(store, route, r)).status for r in ids}


async def gate_refusal(store: Store, route: str, release: str) -> str | None:
    """Why a rollout of `release` may not start on the gate's account (None: it may)."""
    gate = await view(store, route, release)
    if gate.passing:
        return None
    if gate.status == "none":
        return f"eval gate: release {release} has no verdict (run `turnout eval run`)"
    if gate.status == "stale":
        return f"eval gate: the verdict on {release} is stale: {'; '.join(gate.stale)}"
    assert gate.record is not None
    return f"eval gate: {release} did not pass ({gate.status}): {gate.record.verdict.reason}"
