"""The simulated provider's aiohttp app. Records what it received for tests to inspect."""

import asyncio
import math
import random
from collections import deque
from typing import Any

import msgspec
import orjson
from aiohttp import web

from simulator import answers, anthropic, quality
from simulator.behaviour import Behaviour, BehaviourUpdate

RECORD_LIMIT = 10_000


class Received(msgspec.Struct):
    """One call as the simulator saw it (body decoded, headers lower-cased)."""

    path: str
    headers: dict[str, str]
    body: Any


class SimState:
    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {"*": Behaviour()}
        self.received: deque[Received] = deque(maxlen=RECORD_LIMIT)
        self.calls: dict[str, int] = {}
        self.delays_ms: deque[float] = deque(maxlen=RECORD_LIMIT)  # injected latency per call
        self.rng = random.Random(7)
        # answer quality per model and the eval cases' expected answers (simulator.quality)
        self.qualities: dict[str, quality.Quality] = {}
        self.answer_key: dict[str, Any] = {}

    def behaviour_for(self, model: str) -> Behaviour:
        return self.behaviours.get(model) or self.behaviours["*"]

    def count(self, model: str) -> int:
        self.calls[model] = self.calls.get(model, 0) + 1
        return self.calls[model]


SIM_STATE = web.AppKey("turnout_sim_state", SimState)
_update_decoder = msgspec.json.Decoder(BehaviourUpdate)
_quality_decoder = msgspec.json.Decoder(quality.Quality)
_answer_key_decoder = msgspec.json.Decoder(quality.AnswerKey)


def _error(status: int, message: str, behaviour: Behaviour) -> web.Response:
    headers = {}
    if status == 429 and behaviour.retry_after_s is not None:
        headers["Retry-After"] = str(behaviour.retry_after_s)
    body = {"error": {"message": message, "type": "sim_error", "param": None, "code": None}}
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


async def _admit(
    request: web.Request,
) -> tuple[dict[str, Any], Behaviour, int, web.Response | None]:
    """Record the call, apply its latency; the last item is the failure to answer, if any."""
    state = request.app[SIM_STATE]
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise web.HTTPBadRequest(text="simulator: body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="simulator: body must be a JSON object")
    state.received.append(
        Received(
            path=request.path, headers={k.lower(): v for k, v in request.headers.items()}, body=body
        )
    )
    model = str(body.get("model", ""))
    behaviour = state.behaviour_for(model)
    number = state.count(model)
    delay_ms = behaviour.latency_ms
    if behaviour.latency_sigma:
        delay_ms *= math.exp(state.rng.gauss(0.0, behaviour.latency_sigma))
    if behaviour.latency_jitter_ms:
        delay_ms += state.rng.uniform(0, behaviour.latency_jitter_ms)
    state.delays_ms.append(delay_ms)
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    failed = _failure(behaviour, number)
    if failed is None and behaviour.error_rate and state.rng.random() < behaviour.error_rate:
        failed = behaviour.error_status
    failure = None if failed is None else _error(failed, f"simulated failure {failed}", behaviour)
    return body, behaviour, number, failure


def _failure(behaviour: Behaviour, number: int) -> int | None:
    if behaviour.status != 200:
        return behaviour.status
    if behaviour.error_every and number % behaviour.error_every == 0:
        return behaviour.error_status
    return None


async def chat(request: web.Request) -> web.StreamResponse:
    body, behaviour, number, failure = await _admit(request)
    if failure is not None:
        return failure
    if body.get("stream") is not True:
        state = request.app[SIM_STATE]
        text = quality.reply(
            state.qualities, state.answer_key, body, request.headers.get(quality.CASE_HEADER)
        )
        return web.Response(
            body=orjson.dumps(answers.completion(body, number, text)),
            content_type="application/json",
        )
    return await _stream(request, answers.stream_events(body, number), behaviour)


async def _stream(
    request: web.Request, events: list[bytes], behaviour: Behaviour
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for index, event in enumerate(events):
        if index and behaviour.chunk_delay_ms:
            await asyncio.sleep(behaviour.chunk_delay_ms / 1000)
        if index == behaviour.stall_after_chunks and behaviour.stall_ms:
            await asyncio.sleep(behaviour.stall_ms / 1000)
        await response.write(event)
    await response.write_eof()
    return response


def _anthropic_error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(anthropic.error(status, message)),
        content_type="application/json",
    )


async def messages(request: web.Request) -> web.StreamResponse:
    """Anthropic's Messages API: `x-api-key` and `anthropic-version` headers required."""
    if not request.headers.get("x-api-key"):
        return _anthropic_error(401, "x-api-key header is required")
    if not request.headers.get("anthropic-version"):
        return _anthropic_error(400, "anthropic-version header is required")
    body, behaviour, number, failure = await _admit(request)
    if failure is not None:
        answer = _anthropic_error(failure.status, f"simulated failure {failure.status}")
        if "Retry-After" in failure.headers:
            answer.headers["Retry-After"] = failure.headers["Retry-After"]
        return answer
    refused = anthropic.problem(body)
    if refused is not None:
        return _anthropic_error(400, refused)
    if body.get("stream") is not True:
        return web.json_response(anthropic.message(body, number))
    return await _stream(request, anthropic.stream_events(body, number), behaviour)


async def azure_chat(request: web.Request) -> web.StreamResponse:
    """Azure OpenAI: the deployment in the path is the model; `api-version` and `api-key`."""
    if not request.headers.get("api-key"):
        return web.json_response(
            {"error": {"code": "401", "message": "api-key missing"}}, status=401
        )
    if not request.query.get("api-version"):
        return web.json_response(
            {"error": {"code": "404", "message": "api-version missing"}}, status=404
        )
    body, behaviour, number, failure = await _admit(request)
    if failure is not None:
        return failure
    body = {**body, "model": request.match_info["deployment"]}
    if body.get("stream") is not True:
        return web.json_response(answers.completion(body, number))
    return await _stream(request, answers.stream_events(body, number), behaviour)


async def embeddings(request: web.Request) -> web.Response:
    body, _, _, failure = await _admit(request)
    if failure is not None:
        return failure
    return web.Response(body=orjson.dumps(answers.embedding(body)), content_type="application/json")


async def set_behaviour(request: web.Request) -> web.Response:
    try:
        update = _update_decoder.decode(await request.read())
    except msgspec.DecodeError as error:  # ValidationError included
        raise web.HTTPBadRequest(text=str(error)) from None
    request.app[SIM_STATE].behaviours[update.model] = update.behaviour
    return web.json_response({"ok": True})


async def set_quality(request: web.Request) -> web.Response:
    try:
        update = _quality_decoder.decode(await request.read())
    except msgspec.DecodeError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    request.app[SIM_STATE].qualities[update.model] = update
    return web.json_response({"ok": True})


async def set_answer_key(request: web.Request) -> web.Response:
    try:
        update = _answer_key_decoder.decode(await request.read())
    except msgspec.DecodeError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    request.app[SIM_STATE].answer_key.update(update.answers)
    return web.json_response({"ok": True, "cases": len(request.app[SIM_STATE].answer_key)})


async def received(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    return web.Response(
        body=msgspec.json.encode(list(state.received)), content_type="application/json"
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(state: SimState | None = None) -> web.Application:
    app = web.Application()
    app[SIM_STATE] = state or SimState()
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat)
        app.router.add_post(f"{prefix}/embeddings", embeddings)
    app.router.add_post("/_sim/behaviour", set_behaviour)
    app.router.add_get("/_sim/received", received)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", azure_chat)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/_sim/quality", set_quality)
    app.router.add_post("/_sim/answer_key", set_answer_key)
    return app
