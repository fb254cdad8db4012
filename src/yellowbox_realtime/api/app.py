"""The ASGI application for everything that is not a streaming route."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..errors import GatewayError
from .dashboard import dashboard_routes
from .errors import handle_exception, handle_http_exception

Stats = Callable[[], Mapping[str, object]]


def create_api(stats: Stats, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """``stats`` reports live counts (sessions, sockets) for the health endpoint; ``routes``
    are mounted beside it (the publish API), as is the operations dashboard at
    ``/dashboard/`` (:mod:`.dashboard`). Every error answers as JSON
    ``{"error": {"code", "message"}}`` (see :mod:`.errors`)."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", **stats()})

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), *routes,
                             *dashboard_routes()],
                     exception_handlers={HTTPException: handle_http_exception,
                                         GatewayError: handle_exception,
                                         Exception: handle_exception})
