"""Operators' view of the outbox (API key scope ``outbox``):

- ``GET /api/v1/outbox``: backlog, oldest age, in flight, dead letters, the last error.
- ``GET /api/v1/outbox/dead-letters?limit=``: the newest dead letters first.
- ``POST /api/v1/outbox/dead-letters/{id}/replay``: queue one again (202 with the new
  delivery's id).

With the outbox off (no routes) every endpoint answers 404 saying so.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..errors import ForbiddenError
from ..outbox import Outbox, dead_letter_json
from .errors import BadRequest, NotFound
from .keys import KeyRing
from .validation import parse_limit

PREFIX = "/api/v1/outbox"
SCOPE = "outbox"


class OutboxApi:
    def __init__(self, outbox: Outbox | None, keys: KeyRing) -> None:
        self.outbox = outbox
        self.keys = keys

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.stats, methods=["GET"]),
            Route(f"{PREFIX}/dead-letters", self.dead_letters, methods=["GET"]),
            Route(f"{PREFIX}/dead-letters/{{id}}/replay", self.replay, methods=["POST"]),
        ]

    async def stats(self, request: Request) -> JSONResponse:
        outbox = self._permit(request)
        return JSONResponse(await outbox.stats())

    async def dead_letters(self, request: Request) -> JSONResponse:
        outbox = self._permit(request)
        limit = parse_limit(request.query_params.get("limit"))
        letters = await outbox.dead_letters(limit)
        return JSONResponse({"deadLetters": [dead_letter_json(d) for d in letters]})

    async def replay(self, request: Request) -> JSONResponse:
        outbox = self._permit(request)
        raw = request.path_params["id"]
        if not raw.isdigit() or len(raw) > 18:
            raise BadRequest(f"dead letter ids are positive integers, got {raw!r}")
        delivery = await outbox.replay(int(raw))
        return JSONResponse({"deadLetter": int(raw), "delivery": delivery}, status_code=202)

    def _permit(self, request: Request) -> Outbox:
        key = self.keys.authenticate(request.headers)
        if SCOPE not in key.scopes:
            raise ForbiddenError(f"API key {key.name!r} lacks the {SCOPE!r} scope")
        self.keys.take(key, time.monotonic())
        if self.outbox is None:
            raise NotFound("the outbox is off: configure routes in [outbox.urls]")
        return self.outbox
