"""Pages of the web client and the API docs, with cache-busted static asset URLs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp_jinja2
import jinja2
import swagger_ui_bundle
from aiohttp import web

from chatd.assets import asset_dir

STATIC_VERSIONS = web.AppKey("static_versions", dict[str, str])
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
    app.router.add_static("/static/", static_root, name="static")
    app.router.add_static("/api/docs/assets/", swagger_ui_bundle.swagger_ui_path)
    app.router.add_get("/", index)
    app.router.add_get("/api/docs", api_docs)
    app.on_response_prepare.append(_cache_headers)


async def _cache_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/static/") and "v" in request.query and response.status == 200:
        response.headers["Cache-Control"] = IMMUTABLE_CACHE


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, object]:
    return {}


@aiohttp_jinja2.template("api-docs.html")
async def api_docs(request: web.Request) -> dict[str, object]:
    return {}
