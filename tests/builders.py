"""Builders for contract objects used across tests (plain data, no I/O)."""

from gateway.contract.snapshot import (
    ModelSpec,
    PromptSpec,
    ProviderSpec,
    ReleaseSpec,
    RouteState,
)


def provider(base_url: str, name: str = "sim", **fields: object) -> ProviderSpec:
    return ProviderSpec(name=name, base_url=base_url, **fields)  # type: ignore[arg-type]


def model(
    upstream: str = "sim-chat", provider_name: str = "sim", version: int = 1, **fields: object
) -> ModelSpec:
    return ModelSpec(
        ref=f"{upstream}@{version}",
        provider=provider_name,
        upstream_model=upstream,
        **fields,  # type: ignore[arg-type]
    )


def release(
    release_id: str,
    system: str | None = None,
    upstream: str = "sim-chat",
    variables: list[str] | None = None,
    **fields: object,
) -> ReleaseSpec:
    prompt = None
    if system is not None:
        prompt = PromptSpec(
            ref=f"prompt@{release_id[1:]}", system=system, variables=variables or []
        )
    return ReleaseSpec(
        id=release_id,
        model=model(upstream),
        prompt=prompt,
        **fields,  # type: ignore[arg-type]
    )


def state(
    name: str, weights: dict[str, float], revision: int = 1, stable: str = "r1", sticky: bool = True
) -> RouteState:
    return RouteState(
        name=name,
        revision=revision,
        stable=stable,
        weights_bp={k: round(v * 100) for k, v in weights.items()},
        sticky=sticky,
    )
