"""The operations dashboard: static files (``yellowbox_realtime/web``) served at
``/dashboard/``.

The page is plain HTML, CSS and JavaScript modules with no build step, so the files in the
package are exactly what the browser runs. It talks to the gateway like any other client
(``POST /sse/tickets``, ``GET /sse``, the HTTP API), from the gateway's own origin.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

PREFIX = "/dashboard"
PACKAGE = "yellowbox_realtime"
DIRECTORY = "web"


def dashboard_routes() -> list[BaseRoute]:
    """``/dashboard/`` (index.html and its assets) and a redirect from ``/dashboard``, so
    relative asset URLs in the page resolve under the prefix."""

    async def add_slash(_: Request) -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=308)

    files = StaticFiles(packages=[(PACKAGE, DIRECTORY)], html=True)
    return [Route(PREFIX, add_slash, methods=["GET", "HEAD"]),
            Mount(PREFIX, app=files, name="dashboard")]
