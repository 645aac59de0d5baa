"""Serving the dashboard's static files at `/ui` from the package, with a strict CSP.

The files are read once when the app is built (a few tens of KB) and served from memory with
an ETag. Nothing here reads Redis or touches tokens: the page calls the admin API itself with
the token in an `Authorization` header, so no cookie can make a cross-site request act.
"""

import gzip
import hashlib
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web

# No inline scripts or styles, nothing from another origin, no framing, no plugins.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


class Asset:
    __slots__ = ("body", "content_type", "etag", "gzipped")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.gzipped = gzip.compress(body, compresslevel=9, mtime=0)  # once, at start-up
        self.content_type = content_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found |= _walk(entry, name + "/")
            continue
        suffix = "." + entry.name.rpartition(".")[2]
        if suffix in TYPES:
            found[name] = Asset(entry.read_bytes(), TYPES[suffix])
    return found


def load_assets() -> dict[str, Asset]:
    return _walk(resources.files("control").joinpath("ui", "static"))


def _reply(request: web.Request, asset: Asset) -> web.Response:
    # no-cache: the browser revalidates with the ETag (a 304 of a few hundred bytes), so a new
    # version of Turnout is picked up by the next page load
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}
    headers["Vary"] = "Accept-Encoding"
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = asset.content_type
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=asset.gzipped, headers=headers)
    return web.Response(body=asset.body, headers=headers)


def install(app: web.Application) -> None:
    assets = load_assets()
    index = assets["index.html"]

    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/ui/")

    async def page(request: web.Request) -> web.Response:
        return _reply(request, index)

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["path"])
        if found is None:
            raise web.HTTPNotFound()
        return _reply(request, found)

    app.router.add_get("/ui", redirect)
    app.router.add_get("/ui/", page)
    app.router.add_get("/ui/{path:.+}", asset)
