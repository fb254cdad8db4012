"""The operations dashboard: static files (``yellowbox_realtime/web``) served at
``/dashboard/``, Leaflet from the installed ``xstatic-leaflet`` package at
``/dashboard/vendor/leaflet/``, and the map's settings at ``/dashboard/settings.json``.

The page is plain HTML, CSS and JavaScript modules with no build step, so the files in the
package are exactly what the browser runs; nothing comes from a CDN. It talks to the gateway
like any other client (``POST /sse/tickets``, ``GET /sse``, the HTTP API), from the
gateway's own origin; only the map's tiles come from the tile server the config names.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from xstatic.pkg import leaflet

from ..config import DashboardConfig

PREFIX = "/dashboard"
PACKAGE = "yellowbox_realtime"
DIRECTORY = "web"
LEAFLET_PREFIX = f"{PREFIX}/vendor/leaflet"


def page_settings(config: DashboardConfig) -> dict[str, Any]:
    """What the page needs to know to draw its map: the tiles, or ``None`` for the plot."""
    if not config.tile_url:
        return {"tiles": None}
    return {"tiles": {"url": config.tile_url, "attribution": config.tile_attribution,
                      "maxZoom": config.tile_max_zoom}}


def dashboard_routes(config: DashboardConfig | None = None) -> list[BaseRoute]:
    """``/dashboard/`` (index.html and its assets) and a redirect from ``/dashboard``, so
    relative asset URLs in the page resolve under the prefix."""
    settings = page_settings(config or DashboardConfig())

    async def add_slash(_: Request) -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=308)

    async def serve_settings(_: Request) -> JSONResponse:
        return JSONResponse(settings, headers={"Cache-Control": "no-store"})

    files = StaticFiles(packages=[(PACKAGE, DIRECTORY)], html=True)
    return [Route(PREFIX, add_slash, methods=["GET", "HEAD"]),
            Route(f"{PREFIX}/settings.json", serve_settings, methods=["GET", "HEAD"]),
            Mount(LEAFLET_PREFIX, app=StaticFiles(directory=leaflet.BASE_DIR)),
            Mount(PREFIX, app=files, name="dashboard")]
