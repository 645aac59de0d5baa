"""TLS contexts for upstream connections, built off the event loop and reused by every call.

A context verifies the provider's certificate and host name, against the provider's own CA
bundle, else the gateway's (`TURNOUT_CA_BUNDLE`), else the system store (which OpenSSL reads
from `SSL_CERT_FILE`/`SSL_CERT_DIR` when they are set). Building one reads files, so `prepare`
runs in a worker thread whenever the provider set changes; a call only looks contexts up.
"""

import os
import ssl
import threading
from collections.abc import Iterable

SYSTEM = "system store"  # the key of the context without a CA bundle


class TlsSetupError(ValueError):
    """A CA bundle that cannot be used: missing, unreadable, or not PEM certificates."""


def build_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A client context with certificate and host-name checks on (TLS 1.2 at least)."""
    try:
        context = ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as error:
        raise TlsSetupError(f"CA bundle {ca_bundle}: {error.strerror or error}") from None
    context.set_alpn_protocols(["http/1.1"])  # the client speaks HTTP/1.1 only
    return context


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class TlsContexts:
    """One context per CA bundle (and one for the system store), shared by all pools.

    `prepare` (blocking: run it in a thread) builds what a provider set needs, and rebuilds a
    bundle whose file changed; `get` is the non-blocking lookup used when routing tables are
    compiled. A bundle `get` has not seen prepared is built on the spot (start-up paths only).
    """

    def __init__(self, default_bundle: str | None = None) -> None:
        self.default_bundle = default_bundle  # TURNOUT_CA_BUNDLE
        self._contexts: dict[str, ssl.SSLContext | TlsSetupError] = {}
        self._stamps: dict[str, tuple[int, int] | None] = {}
        self._lock = threading.Lock()  # prepare in a worker thread, get on the loop
        self.built = 0  # contexts built so far (each one a read of its CA files)

    def bundle_for(self, ca_bundle: str | None) -> str | None:
        return ca_bundle or self.default_bundle

    def prepare(self, ca_bundles: Iterable[str | None]) -> None:
        for requested in set(ca_bundles):
            bundle = self.bundle_for(requested)
            key = bundle or SYSTEM
            stamp = _stamp(bundle) if bundle else None
            with self._lock:
                if key in self._contexts and self._stamps.get(key) == stamp:
                    continue
            self._store(key, bundle, stamp)

    def get(self, ca_bundle: str | None) -> ssl.SSLContext:
        """The context for a provider's bundle; raises TlsSetupError naming a bad bundle."""
        bundle = self.bundle_for(ca_bundle)
        key = bundle or SYSTEM
        found = self._contexts.get(key)
        if found is None:
            found = self._store(key, bundle, _stamp(bundle) if bundle else None)
        if isinstance(found, TlsSetupError):
            raise found
        return found

    def _store(
        self, key: str, bundle: str | None, stamp: tuple[int, int] | None
    ) -> ssl.SSLContext | TlsSetupError:
        built: ssl.SSLContext | TlsSetupError
        try:
            built = build_context(bundle)
        except TlsSetupError as error:
            built = error
        with self._lock:
            self._contexts[key] = built
            self._stamps[key] = stamp
            self.built += 1
        return built
