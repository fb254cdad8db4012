"""The ASGI application for everything that is not a streaming route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..config import DashboardConfig
from ..errors import GatewayError
from .dashboard import dashboard_routes
from .errors import handle_exception, handle_http_exception

Stats = Callable[[], Mapping[str, object]]
# Why the gateway cannot take traffic now (an empty list: it can).
Ready = Callable[[], Awaitable[list[str]]]


async def _always_ready() -> list[str]:
    return []


def create_api(stats: Stats, routes: Sequence[BaseRoute] = (),
               ready: Ready = _always_ready,
               dashboard: DashboardConfig | None = None) -> Starlette:
    """``stats`` reports live counts (sessions, sockets) for the health endpoint; ``routes``
    are mounted beside it (the publish API), as is the operations dashboard at
    ``/dashboard/`` (:mod:`.dashboard`). ``/readyz`` answers 503 with ``ready()``'s
    reasons while there are any (a load balancer sends traffic elsewhere), 200 otherwise.
    Every error answers as JSON ``{"error": {"code", "message"}}`` (see :mod:`.errors`)."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", **stats()})

    async def readyz(_: Request) -> JSONResponse:
        reasons = await ready()
        if reasons:
            return JSONResponse({"status": "not_ready", "reasons": reasons}, status_code=503)
        return JSONResponse({"status": "ready"})

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"]),
                             Route("/readyz", readyz, methods=["GET"]), *routes,
                             *dashboard_routes(dashboard)],
                     exception_handlers={HTTPException: handle_http_exception,
                                         GatewayError: handle_exception,
                                         Exception: handle_exception})
