"""Sending one call upstream under its route's retry policy, and deciding a canary fallback.

Without a policy a call is sent once (one attribute check). With one, a connect failure, a 429
or a 5xx answer is tried again up to `max_retries` times, each retry paid from the route's
budget; a `Retry-After` (or `retry-after-ms`) is honoured up to the policy's cap, and an answer
asking for longer goes to the caller as it is. Only the answer's head is awaited here: once a
stream is being relayed nothing is retried.
"""

import asyncio
import random
import time
from collections.abc import Awaitable, Mapping

from gateway.errors import GatewayError
from gateway.forward import drain, failure, open_exchange
from gateway.resolve import PIN_HEADER
from gateway.retry import RETRY_STATUSES, Retry, retry_after_ms, retry_after_s
from gateway.routing import ServedRelease
from gateway.upstream.client import UpstreamClient, UpstreamTarget
from gateway.upstream.exchange import ConnectFailed, Exchange, ResponseHead


def send(
    client: UpstreamClient,
    release: ServedRelease,
    target: UpstreamTarget,
    data: bytes,
    extra_headers: bytes,
    streaming: bool,
    rng: random.Random,
) -> Awaitable[tuple[Exchange, ResponseHead]]:
    """The exchange and its head, after any retries; raises GatewayError for a failure. A
    plain function choosing the coroutine, so a call without a policy awaits no extra layer."""
    retry = release.retry
    if retry is None:
        return _once(client, target, data, extra_headers, streaming)
    return _with_retries(retry, client, target, data, extra_headers, streaming, rng)


async def _once(
    client: UpstreamClient, target: UpstreamTarget, data: bytes, headers: bytes, streaming: bool
) -> tuple[Exchange, ResponseHead]:
    try:
        return await open_exchange(client, target, data, headers, streaming)
    except OSError as error:  # TimeoutError, ConnectFailed and ProtocolError included
        raise failure(error, target) from None


async def _with_retries(
    retry: Retry,
    client: UpstreamClient,
    target: UpstreamTarget,
    data: bytes,
    extra_headers: bytes,
    streaming: bool,
    rng: random.Random,
) -> tuple[Exchange, ResponseHead]:
    loop = asyncio.get_running_loop()
    policy, budget = retry.policy, retry.budget
    budget.note_call(loop.time())
    attempt = 0
    while True:
        try:
            exchange, head = await open_exchange(client, target, data, extra_headers, streaming)
        except ConnectFailed as error:
            if (
                not error.retryable
                or attempt >= policy.max_retries
                or not budget.take(loop.time(), policy.budget_percent)
            ):
                raise failure(error, target) from None
            wait_s = retry.backoff_s(attempt, rng)
        except OSError as error:  # sent, then failed: never repeated
            raise failure(error, target) from None
        else:
            if head.status not in RETRY_STATUSES or attempt >= policy.max_retries:
                return exchange, head
            asked = retry_after_ms(head.header("retry-after-ms"))
            if asked is None:
                asked = retry_after_s(head.header("retry-after"), time.time())
            if asked is not None and asked > policy.retry_after_cap_s:
                return exchange, head  # the provider wants longer than we may wait: say so
            if not budget.take(loop.time(), policy.budget_percent):
                return exchange, head
            await drain(exchange)
            wait_s = max(asked or 0.0, retry.backoff_s(attempt, rng))
        retry.stats.retries += 1
        await asyncio.sleep(wait_s)
        attempt += 1


def falls_back(release: ServedRelease, turnout: Mapping[str, str] | None, status: int) -> bool:
    """Whether a failed call of `release` is answered by the route's stable release instead:
    the route asks for it, the failure is the provider's (429, 5xx, unreachable), the caller did
    not pin this release (`turnout`: the call's X-Turnout-* headers), and the budget has room
    for the extra call."""
    retry = release.retry
    if release.fallback is None or retry is None:
        return False
    if status not in RETRY_STATUSES and status < 500:
        return False
    if turnout is not None and PIN_HEADER in turnout:
        return False
    budget = retry.budget
    if not budget.take(asyncio.get_running_loop().time(), retry.policy.budget_percent):
        return False
    retry.stats.fallbacks += 1
    return True


def upstream_failed(error: GatewayError) -> bool:
    """A failure of the provider (unreachable, timed out, refused answer), not of the call."""
    return error.type == "upstream_error"
