"""A route `qa` with releases of known answer quality on the simulator, and a judge route."""

from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from tests.control.conftest import Api

# upstream model -> simulated accuracy; r1 (stable) answers 80% right
QUALITY = {"m-base": 0.80, "m-worse": 0.60, "m-better": 0.85}
RELEASES = {"r1": "m-base", "r2": "m-worse", "r3": "m-better"}


async def seed(api: Api, http: aiohttp.ClientSession, sim_url: str, consistency: float) -> None:
    await api.ok("PUT", "/admin/providers/sim", {"base_url": sim_url, "timeout_s": 10})
    for model in [*QUALITY, "m-judge"]:
        await api.ok(
            "POST",
            f"/admin/models/{model}/versions",
            {
                "provider": "sim",
                "upstream_model": model,
                "input_usd_per_mtok": 2.0,
                "output_usd_per_mtok": 8.0,
            },
        )
    await api.ok("POST", "/admin/prompts/qa/versions", {"system": "Answer briefly."})
    await api.ok("POST", "/admin/routes", {"name": "qa", "release": {"model": "m-base@1"}})
    for model in ("m-worse", "m-better"):
        await api.ok("POST", "/admin/routes/qa/releases", {"model": f"{model}@1"}, role="operator")
    await api.ok("POST", "/admin/routes", {"name": "judge", "release": {"model": "m-judge@1"}})
    base = sim_url.removesuffix("/v1")
    for model, accuracy in QUALITY.items():
        quality = {"model": model, "accuracy": accuracy, "consistency": consistency}
        async with http.post(f"{base}/_sim/quality", json=quality) as response:
            assert response.status == 200
    async with http.post(f"{base}/_sim/quality", json={"model": "m-judge", "judge": True}) as r:
        assert r.status == 200


def write_dataset(path: Path, n: int, judged: bool = True) -> dict[str, Any]:
    """n cases; returns the answer key for the simulator."""
    lines, key = [], {}
    for i in range(n):
        expected = f"answer {i}"
        key[f"q{i}"] = expected
        case = {
            "id": f"q{i}",
            "messages": [{"role": "user", "content": f"question {i}?"}],
            "expected": expected,
            "scorers": ["exact", "judge"] if judged else ["exact"],
        }
        lines.append(msgspec.json.encode(case))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return key


async def load_answer_key(http: aiohttp.ClientSession, sim_url: str, key: dict[str, Any]) -> None:
    base = sim_url.removesuffix("/v1")
    async with http.post(f"{base}/_sim/answer_key", json={"answers": key}) as response:
        assert response.status == 200
