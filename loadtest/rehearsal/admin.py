"""The rehearsal's calls to the admin API and the simulator: set the scenario up, act on the
route, read its state, rollout, audit trail and stats. aiohttp; JSON in and out.
"""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from loadtest.rehearsal.scenario import Provider, Rollout, Scenario


class AdminError(RuntimeError):
    """The admin API refused a call; the message quotes its error."""


class Admin:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    async def call(
        self, method: str, path: str, body: Any = None, *, allow: tuple[int, ...] = ()
    ) -> Any:
        data = None if body is None else orjson.dumps(body)
        async with self.session.request(
            method, self.url + path, data=data, headers=self.headers
        ) as response:
            raw = await response.read()
            if response.status >= 400 and response.status not in allow:
                raise AdminError(f"{method} {path}: {response.status} {raw.decode()[:500]}")
            return orjson.loads(raw) if raw else None

    async def route(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.call("GET", f"/admin/routes/{name}", allow=(404,))
        return None if found is None or "error" in found else found

    async def rollout(self, name: str) -> dict[str, Any] | None:
        found = await self.call("GET", f"/admin/routes/{name}/rollouts", allow=(404,))
        return None if found is None or "error" in found else found

    async def audit(self, name: str, since_epoch_s: float) -> list[dict[str, Any]]:
        """The route's entries since then, oldest first (the API returns at most 1000)."""
        since = datetime.fromtimestamp(since_epoch_s, UTC).isoformat()
        query = urlencode({"route": name, "since": since, "limit": 1000})
        entries: list[dict[str, Any]] = await self.call("GET", f"/admin/audit?{query}")
        return entries

    async def stats(self, name: str, window: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.call(
            "GET", f"/admin/routes/{name}/stats?window={window}"
        )
        return found

    async def set_weights(self, name: str, weights: dict[str, float], reason: str) -> int:
        """A compare-and-set flip from the current revision; returns the new revision."""
        for _attempt in range(5):
            current = await self.route(name)
            if current is None:
                raise AdminError(f"route {name!r} does not exist")
            body = {"weights": weights, "expected_revision": current["revision"], "reason": reason}
            answer = await self.call("PUT", f"/admin/routes/{name}/weights", body, allow=(409,))
            if "error" not in answer:
                return int(answer["revision"])
        raise AdminError(f"route {name!r} kept moving: the flip to {weights} lost five races")

    async def start_rollout(self, name: str, action: Rollout) -> dict[str, Any]:
        fields = ("steps", "min_bake_s", "min_requests", "max_step_s", "on_inconclusive", "alpha")
        body: dict[str, Any] = {
            "release": action.release,
            "reason": "rehearsal (turnout loadtest)",
            "skip_gate": True,
        }
        body.update({f: getattr(action, f) for f in fields if getattr(action, f) is not None})
        if action.guards is not None:
            body["guards"] = [
                {k: v for k, v in _struct_dict(g).items() if v is not None} for g in action.guards
            ]
        view: dict[str, Any] = await self.call("POST", f"/admin/routes/{name}/rollouts", body)
        return view

    async def rollback(self, name: str, reason: str) -> int:
        answer = await self.call("POST", f"/admin/routes/{name}/rollback", {"reason": reason})
        return int(answer["revision"])

    async def set_up(self, scenario: Scenario, simulator_url: str | None) -> None:
        """Create the route from the scenario, or check that an existing one has its releases;
        then put the starting weights in place."""
        name = scenario.route.name
        existing = await self.route(name)
        if existing is None:
            if simulator_url is None:
                raise AdminError(
                    f"route {name!r} does not exist: give --simulator so the rehearsal can "
                    "create it on the simulated provider"
                )
            await self._create(scenario, simulator_url)
            existing = await self.route(name)
            assert existing is not None
        have = {release["id"] for release in existing["releases"]}
        missing = sorted(set(scenario.releases) - have)
        if missing:
            raise AdminError(f"route {name!r} exists but has no release {', '.join(missing)}")
        if existing["stable"] != scenario.route.stable:
            raise AdminError(
                f"route {name!r}: stable is {existing['stable']}, the scenario says "
                f"{scenario.route.stable}"
            )
        wanted = {r: scenario.initial_weights().get(r, 0.0) for r in existing["weights"]}
        if {r: float(w) for r, w in existing["weights"].items()} != wanted:
            await self.set_weights(name, wanted, "rehearsal: starting weights")

    async def _create(self, scenario: Scenario, simulator_url: str) -> None:
        provider = {"base_url": simulator_url.rstrip("/") + "/v1", "timeout_s": 60}
        await self.call("PUT", "/admin/providers/rehearsal-sim", provider)
        models: dict[str, str] = {}
        prompts: dict[str, str] = {}
        route = scenario.route.name
        bodies = []
        for release_id in scenario.release_ids():
            release = scenario.releases[release_id]
            if release.model not in models:
                body = {"provider": "rehearsal-sim", "upstream_model": release.model}
                answer = await self.call("POST", f"/admin/models/{release.model}/versions", body)
                models[release.model] = answer["ref"]
            spec: dict[str, Any] = {"model": models[release.model], "params": release.params}
            if release.prompt is not None:
                if release.prompt not in prompts:
                    answer = await self.call(
                        "POST",
                        f"/admin/prompts/{route}-prompt/versions",
                        {"system": release.prompt},
                    )
                    prompts[release.prompt] = answer["ref"]
                spec["prompt"] = prompts[release.prompt]
            bodies.append(spec)
        await self.call("POST", "/admin/routes", {"name": route, "release": bodies[0]})
        for spec in bodies[1:]:
            await self.call("POST", f"/admin/routes/{route}/releases", spec)


def _struct_dict(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__struct_fields__}


def behaviour(provider: Provider) -> dict[str, Any]:
    """The simulator's `Behaviour` for a release's provider section."""
    return {
        "latency_ms": provider.latency_ms,
        "latency_sigma": provider.latency_sigma,
        "chunk_delay_ms": provider.chunk_delay_ms,
        "error_rate": provider.error_rate,
        "error_status": provider.error_status,
    }


async def configure_simulator(
    session: aiohttp.ClientSession, simulator_url: str, scenario: Scenario
) -> None:
    for release in scenario.releases.values():
        body = {"model": release.model, "behaviour": behaviour(release.provider)}
        async with session.post(
            simulator_url.rstrip("/") + "/_sim/behaviour", data=orjson.dumps(body)
        ) as response:
            if response.status != 200:
                text = (await response.text())[:300]
                raise AdminError(f"the simulator refused behaviour for {release.model}: {text}")
