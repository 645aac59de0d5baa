"""Sending one eval call through the gateway pinned to a release, with retries and backoff.

Retries 429, 5xx, time-outs and connection failures (honouring Retry-After, capped); any other
answer is final. Every call carries `X-Turnout-Eval` so the gateway keeps it out of live telemetry.
"""

import asyncio
import random
import urllib.parse
from typing import Any

import aiohttp
import msgspec

EVAL_HEADER = "X-Turnout-Eval"
# "<case id>#<sample>", percent-encoded: for the provider's own logs (and the simulator)
CASE_HEADER = "X-Eval-Case"
_MAX_RETRY_AFTER_S = 30.0


class CallFailed(Exception):
    """A call that could not be completed after its retries, or was refused outright."""


class Answer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: str
    tokens_in: int
    tokens_out: int
    release: str  # X-Turnout-Release of the answer (must be the pinned one)
    prompt: str  # X-Turnout-Prompt
    model: str  # X-Turnout-Model
    route: str  # X-Turnout-Route


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _Completion(msgspec.Struct):
    choices: list[_Choice]
    usage: _Usage | None = None


_completion = msgspec.json.Decoder(_Completion)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class Caller:
    """Owns nothing: the session is the runner's. Counts what it sent (retries included)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        gateway_url: str,
        api_key: str | None,
        *,
        retries: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.url = gateway_url.rstrip("/") + "/v1/chat/completions"
        self.api_key = api_key
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.rng = rng or random.Random()
        self.sent = 0
        self.retried = 0

    async def chat(self, body: dict[str, Any], release: str, tag: str) -> Answer:
        headers = {
            "X-Turnout-Release": release,
            EVAL_HEADER: "1",
            CASE_HEADER: urllib.parse.quote(tag, safe="#@"),  # case ids may be any text
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
            self.sent += 1
            wait: float | None = None
            try:
                async with self.http.post(
                    self.url, json=body, headers=headers, timeout=self.timeout
                ) as response:
                    raw = await response.read()
                    if response.status == 200:
                        return self._answer(raw, response.headers, release, tag)
                    problem = f"HTTP {response.status}: {raw[:300].decode(errors='replace')}"
                    if not _retryable(response.status):
                        raise CallFailed(f"{tag} on {release}: {problem}")
                    wait = _retry_after(response.headers.get("Retry-After"))
            except (TimeoutError, aiohttp.ClientError) as error:
                problem = f"{type(error).__name__}: {error}"
            if attempt < self.retries:
                backoff = self.backoff_s * 2**attempt * (0.5 + self.rng.random())
                await asyncio.sleep(wait if wait is not None else backoff)
        raise CallFailed(f"{tag} on {release}: gave up after {self.retries + 1} tries ({problem})")

    @staticmethod
    def _answer(raw: bytes, headers: Any, release: str, tag: str) -> Answer:
        try:
            completion = _completion.decode(raw)
        except msgspec.DecodeError as error:
            raise CallFailed(f"{tag} on {release}: not a chat completion ({error})") from None
        served = headers.get("X-Turnout-Release", "")
        if served != release:
            raise CallFailed(f"{tag}: pinned {release} but the gateway served {served!r}")
        usage = completion.usage or _Usage()
        text = completion.choices[0].message.content if completion.choices else None
        return Answer(
            text=text or "",
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
            release=served,
            prompt=headers.get("X-Turnout-Prompt", "-"),
            model=headers.get("X-Turnout-Model", ""),
            route=headers.get("X-Turnout-Route", ""),
        )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        return None
