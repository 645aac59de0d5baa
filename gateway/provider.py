"""A provider compiled for serving: its dialect, pool, TLS context and the request line and key
header of each model's endpoint, per provider kind. Built with the routing table, off the
request path; reads the key from the environment variable the provider names (never logged).
"""

import os
from urllib.parse import quote

from gateway.contract.snapshot import ProviderSpec, key_env_refusal
from gateway.dialect import DIALECTS, Dialect
from gateway.translate.anthropic import ANTHROPIC_VERSION
from gateway.upstream.client import UpstreamClient, UpstreamTarget
from gateway.upstream.pool import ConnectionPool, Origin

CHAT = "chat/completions"
EMBEDDINGS = "embeddings"


class ServedProvider:
    """`error` says why calls through this provider cannot be made (then it has no targets)."""

    __slots__ = ("_headers", "_origin", "_pool", "dialect", "error", "spec")

    def __init__(self, spec: ProviderSpec, client: UpstreamClient) -> None:
        self.spec = spec
        self.dialect: Dialect = DIALECTS[spec.kind]
        self.error: str | None = None
        self._origin: Origin | None = None
        self._pool: ConnectionPool | None = None
        self._headers: list[tuple[str, str]] = []
        try:
            self._headers = self._kind_headers(self._key())
            self._origin = Origin(spec.base_url)
            self._pool = client.pool_for(self._origin, spec.max_connections, spec.ca_bundle)
        except ValueError as error:  # TlsSetupError included: a CA bundle that cannot be used
            self.error = f"provider {spec.name!r}: {error}"

    def _key(self) -> str | None:
        name = self.spec.api_key_env
        if name is None:
            return None
        refusal = key_env_refusal(name)
        if refusal is not None:
            raise ValueError(refusal)
        key = os.environ.get(name)
        if key is not None and any(c in key for c in "\r\n\0"):
            raise ValueError(f"the key in {name} contains a line break or NUL")
        return key

    def _kind_headers(self, key: str | None) -> list[tuple[str, str]]:
        kind = self.spec.kind
        if kind == "anthropic":
            headers = [("anthropic-version", ANTHROPIC_VERSION)]
            return [("x-api-key", key), *headers] if key else headers
        if kind == "azure_openai":
            if not self.spec.api_version:
                raise ValueError("an azure_openai provider needs api_version")
            return [("api-key", key)] if key else []
        return [("Authorization", f"Bearer {key}")] if key else []

    def target(self, upstream_model: str, endpoint: str) -> UpstreamTarget | None:
        """The endpoint (CHAT or EMBEDDINGS) for a model; None when the kind has none."""
        if self._origin is None or self._pool is None:
            return None
        kind = self.spec.kind
        if kind == "anthropic":
            if endpoint != CHAT:
                return None
            path = "/messages"
        elif kind == "azure_openai":
            deployment = quote(upstream_model, safe="")
            version = quote(self.spec.api_version or "", safe="")
            path = f"/openai/deployments/{deployment}/{endpoint}?api-version={version}"
        else:
            path = f"/{endpoint}"
        return UpstreamTarget(self._origin, self._pool, path, self._headers, self.spec.timeout_s)
