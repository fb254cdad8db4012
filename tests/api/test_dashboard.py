"""The operations dashboard's files, as the gateway serves them at ``/dashboard/``."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeGateway, gateway_config
from yellowbox_realtime.app import Gateway

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
WEB = resources.files("yellowbox_realtime") / "web"
FILES = sorted(entry.name for entry in WEB.iterdir() if entry.name.endswith((".html", ".js",
                                                                             ".css")))
# `import ... from "./x.js"` and `<script src>` / `<link href>` in the page.
LOCAL_REFERENCE = re.compile(r"""(?:from\s+|src=|href=)["'](\./)?([\w-]+\.(?:js|css))["']""")
ANY_URL = re.compile(r"""\b(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s"'`]*""")
# Namespace names look like URLs but are never fetched.
NAMESPACES = {"http://www.w3.org/2000/svg"}


async def get(gateway: Gateway, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        return await client.get(path)


async def test_dashboard_without_the_slash_redirects_to_it(gateway: Gateway) -> None:
    response = await get(gateway, "/dashboard")
    assert response.status_code == 308
    assert response.headers["location"].endswith("/dashboard/")


async def test_the_page_and_its_assets_are_served(gateway: Gateway) -> None:
    page = await get(gateway, "/dashboard/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Yellow Box · Operations</title>" in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        asset = await get(gateway, f"/dashboard/{name}")
        assert asset.status_code == 200
        assert kind in asset.headers["content-type"]


async def test_a_missing_file_is_a_404(gateway: Gateway) -> None:
    response = await get(gateway, "/dashboard/nope.js")
    assert response.status_code == 404


@pytest.mark.parametrize("name", FILES)
def test_every_file_the_page_references_is_in_the_package(name: str) -> None:
    text = (WEB / name).read_text()
    for _, referenced in LOCAL_REFERENCE.findall(text):
        assert (WEB / referenced).is_file(), f"{name} references {referenced}"


@pytest.mark.parametrize("name", FILES)
def test_nothing_is_fetched_from_outside_the_gateway(name: str) -> None:
    # Nothing from a CDN or a font service; the map's tiles come from the tile server the
    # gateway's config names (through settings.json), never from a URL in the page.
    text = (WEB / name).read_text()
    assert [url for url in ANY_URL.findall(text) if url not in NAMESPACES] == []


def test_every_file_of_the_page_ships_in_the_package() -> None:
    # setuptools takes non-Python files only when package-data names them.
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"][
        "yellowbox_realtime"]
    left_out = [entry.name for entry in WEB.iterdir() if entry.is_file()
                and not any(fnmatch(f"web/{entry.name}", pattern) for pattern in patterns)]
    assert left_out == []


async def test_leaflet_is_served_from_the_installed_package(gateway: Gateway) -> None:
    for name, kind in (("leaflet-src.esm.js", "javascript"), ("leaflet.css", "text/css")):
        asset = await get(gateway, f"/dashboard/vendor/leaflet/{name}")
        assert asset.status_code == 200, name
        assert kind in asset.headers["content-type"]
    assert "export {" in (await get(gateway, "/dashboard/vendor/leaflet/leaflet-src.esm.js")).text
    missing = await get(gateway, "/dashboard/vendor/leaflet/../../../pyproject.toml")
    assert missing.status_code == 404


async def test_the_settings_name_the_tiles_or_none(make_gateway: MakeGateway) -> None:
    tiled = await make_gateway(gateway_config(dashboard={
        "tile_url": "https://tiles.invalid/{z}/{x}/{y}.png", "tile_attribution": "Us",
        "tile_max_zoom": 17}))
    settings = await get(tiled, "/dashboard/settings.json")
    assert settings.status_code == 200
    assert settings.json() == {"tiles": {"url": "https://tiles.invalid/{z}/{x}/{y}.png",
                                         "attribution": "Us", "maxZoom": 17}}
    plain = await make_gateway(gateway_config(dashboard={"tile_url": ""}))
    assert (await get(plain, "/dashboard/settings.json")).json() == {"tiles": None}
