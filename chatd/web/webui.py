"""Pages of the web client and the API docs, with cache-busted static asset URLs."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import aiohttp_jinja2
import jinja2
import swagger_ui_bundle
from aiohttp import web

from chatd.web.assets import asset_dir
from chatd.web.emoji_catalog import EmojiCatalog, build_catalog

STATIC_VERSIONS = web.AppKey("static_versions", dict[str, str])
EMOJI_CATALOG = web.AppKey("emoji_catalog", EmojiCatalog)
EMOJI_GZIP = web.AppKey("emoji_gzip", bytes)
#: Versioned asset URLs never change content, so browsers may keep them for a year.
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"


def _fingerprints(static_root: Path) -> dict[str, str]:
    """Content hash per static file, computed once at start-up."""
    versions = {}
    for path in static_root.rglob("*"):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            versions[path.relative_to(static_root).as_posix()] = digest
    return versions


def setup_web(app: web.Application) -> None:
    static_root = asset_dir("static")
    versions = _fingerprints(static_root)
    app[STATIC_VERSIONS] = versions

    def static_url(path: str) -> str:
        version = versions.get(path)
        return f"/static/{path}?v={version}" if version else f"/static/{path}"

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(asset_dir("templates"))),
        autoescape=jinja2.select_autoescape(default=True),
    )
    env.globals["static_url"] = static_url
    catalog = build_catalog()
    app[EMOJI_CATALOG] = catalog
    # Compressed once here rather than per request: ~70 KB of JSON becomes ~20 KB.
    app[EMOJI_GZIP] = gzip.compress(catalog.body, compresslevel=9, mtime=0)
    env.globals["emoji_url"] = f"/emoji.json?v={catalog.version}"
    app.router.add_static("/static/", static_root, name="static")
    app.router.add_static("/api/docs/assets/", swagger_ui_bundle.swagger_ui_path)
    app.router.add_get("/", index)
    app.router.add_get("/emoji.json", emoji_json)
    app.router.add_get("/api/docs", api_docs)
    app.on_response_prepare.append(_cache_headers)


async def _cache_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Versioned URLs are immutable; the rest revalidate (ETag) on every use.

    The page names only the entry module with `?v=`; the ES modules it imports
    use plain relative URLs (an import map would be inline script, which the CSP
    forbids), so those must never be served stale from a heuristic cache.
    """
    if not request.path.startswith("/static/") or response.status != 200:
        return
    versioned = request.query.get("v") == request.app[STATIC_VERSIONS].get(
        request.path.removeprefix("/static/")
    )
    response.headers["Cache-Control"] = IMMUTABLE_CACHE if versioned else "no-cache"


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, object]:
    return {}


async def emoji_json(request: web.Request) -> web.Response:
    """The picker's emoji catalog (see chatd/emoji_catalog.py); public, like /static."""
    catalog = request.app[EMOJI_CATALOG]
    headers = {"Vary": "Accept-Encoding"}
    if request.query.get("v") == catalog.version:
        headers["Cache-Control"] = IMMUTABLE_CACHE
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        body = request.app[EMOJI_GZIP]
    else:
        body = catalog.body
    return web.Response(body=body, content_type="application/json", headers=headers)


@aiohttp_jinja2.template("api-docs.html")
async def api_docs(request: web.Request) -> dict[str, object]:
    return {}
