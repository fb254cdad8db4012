"""The ASGI application for everything that is not a streaming route."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Stats = Callable[[], Mapping[str, object]]


def create_api(stats: Stats) -> Starlette:
    """``stats`` reports live counts (sessions, sockets) for the health endpoint."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", **stats()})

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
