"""The web client's page, static assets and emoji catalog, as a browser fetches them."""

from __future__ import annotations

import gzip
import json
import re

import aiohttp
import pytest


@pytest.fixture
async def base(start_server):
    return await start_server()


async def test_page_links_versioned_assets_under_a_strict_csp(base):
    async with aiohttp.ClientSession() as http, http.get(base) as response:
        assert response.status == 200
        page = await response.text()
        csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "<script>" not in page and "style=" not in page  # nothing inline
    entry = re.search(r'<script type="module" src="(/static/js/main\.js\?v=[0-9a-f]{12})"', page)
    css = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]{12})"', page)
    emoji = re.search(r'data-emoji-url="(/emoji\.json\?v=[^"]+)"', page)
    assert entry and css and emoji
    async with aiohttp.ClientSession() as http:
        async with http.get(base.rstrip("/") + entry.group(1)) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert "javascript" in response.content_type
        # Modules imported by plain relative URLs must revalidate, never go stale.
        async with http.get(base + "static/js/api.js") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers.get("ETag") or response.headers.get("Last-Modified")
        async with http.get(base + "static/js/main.js?v=stale0000000") as response:
            assert response.headers["Cache-Control"] == "no-cache"


async def test_emoji_catalog_comes_from_the_emoji_package(base):
    import emoji

    url = f"{base}emoji.json?v={emoji.__version__}"
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url, headers={"Accept-Encoding": "gzip"}) as response:
            assert response.status == 200
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            data = json.loads(gzip.decompress(await response.read()))
        async with http.get(
            f"{base}emoji.json", headers={"Accept-Encoding": "identity"}
        ) as response:
            assert "Content-Encoding" not in response.headers
            assert "immutable" not in response.headers.get("Cache-Control", "")
            assert json.loads(await response.read()) == data
    assert data["version"] == emoji.__version__
    entries = {char: (name, aliases) for char, name, aliases in data["emoji"]}
    assert entries["👍"][0] == "thumbs_up" and "thumbsup" in entries["👍"][1]
    assert data["emoji"][0][0] == "😀"  # smileys first for browsing
    assert not any("skin_tone" in name for name, _ in entries.values())
    assert len(entries) > 1500
