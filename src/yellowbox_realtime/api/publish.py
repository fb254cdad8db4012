"""The publish and history endpoints of ``/api/v1``.

Publishing goes through the broker like every other event, so Socket.IO sockets in the
channel's room (and SSE streams of the channel) receive it, it is numbered, and it is kept
in the channel's history. The answer is ``202`` with the event's id ``<epoch>:<offset>``,
the same id SSE streams and ``since`` use.

Idempotency: with an ``Idempotency-Key`` the broker delivers a retried publish once and
answers with the first one's id. Keys are scoped to the API key that sent them, so two
back-office clients cannot collide. A key reused for a different request (another channel,
event or data) is a 409; that check remembers keys in this process only, for as long and
as many as the memory broker remembers them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..config import ApiConfig, ServerConfig
from ..core.broker import Broker
from ..core.channels import role_channel, user_channel
from ..core.hub import Outgoing, json_data
from ..core.idempotency import IdempotencyKey, IdempotencyTable
from ..domain.wiretime import iso
from ..messages import StreamPosition
from .errors import IdempotencyConflict
from .keys import ApiKey, KeyRing, principal
from .openapi import openapi_document
from .validation import (
    EventBody,
    check_channel,
    check_idempotency_key,
    check_role,
    check_uid,
    parse_body,
    parse_limit,
    parse_since,
)

__all__ = ["PublishApi", "max_payload"]

PREFIX = "/api/v1"


def max_payload(server: ServerConfig) -> int:
    """The largest ``data`` (as JSON) the API publishes: within the request body limit, and
    at most half a subscriber's output buffer, because one event larger than the buffer
    would cut off every subscriber as a slow consumer."""
    return min(server.max_body_bytes, server.max_buffer_bytes // 2)


class PublishApi:
    def __init__(self, broker: Broker, api: ApiConfig, server: ServerConfig, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.broker = broker
        self.keys = KeyRing(api)
        self.max_payload = max_payload(server)
        self._clock = clock
        self._wall_clock = wall_clock
        # What each key was first used for (channel, event and data, hashed).
        self.fingerprints: IdempotencyTable[str] = IdempotencyTable(clock=clock)
        self._openapi = openapi_document()

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/channels/{{channel}}/events", self.publish_channel,
                  methods=["POST"]),
            Route(f"{PREFIX}/users/{{uid}}/events", self.publish_user, methods=["POST"]),
            Route(f"{PREFIX}/roles/{{role}}/events", self.publish_role, methods=["POST"]),
            Route(f"{PREFIX}/channels/{{channel}}/history", self.history, methods=["GET"]),
            Route(f"{PREFIX}/openapi.json", self.openapi, methods=["GET"]),
        ]

    # -- endpoints --------------------------------------------------------------------

    async def publish_channel(self, request: Request) -> JSONResponse:
        key = self.keys.authenticate(request.headers)
        return await self._publish(request, key, check_channel(request.path_params["channel"]))

    async def publish_user(self, request: Request) -> JSONResponse:
        key = self.keys.authenticate(request.headers)
        uid = check_uid(request.path_params["uid"])
        return await self._publish(request, key, user_channel(uid))

    async def publish_role(self, request: Request) -> JSONResponse:
        key = self.keys.authenticate(request.headers)
        role = check_role(request.path_params["role"])
        return await self._publish(request, key, role_channel(role))

    async def history(self, request: Request) -> JSONResponse:
        key = self.keys.authenticate(request.headers)
        channel = check_channel(request.path_params["channel"])
        self._permit(key, "history", channel)
        since = parse_since(request.query_params.get("since"))
        limit = parse_limit(request.query_params.get("limit"))
        return JSONResponse(await self.recent(channel, since, limit))

    async def recent(self, channel: str, since: StreamPosition | None,
                     limit: int) -> dict[str, Any]:
        """A page of ``channel``'s history after ``since`` (the caller is permitted); the
        MCP endpoint's ``channel_history`` reads the same page."""
        # No position: everything this stream still has (offset 0 of the current epoch).
        start = since or StreamPosition(self.broker.position().epoch, 0)
        recovery = await self.broker.since([channel], start)
        entries = recovery.entries[:limit]
        more = len(recovery.entries) > limit
        # Paging: the next read starts after the last entry returned.
        position = entries[-1].id if more else str(recovery.position)
        wall_offset = self._wall_clock() - self._clock()
        return {
            "entries": [_entry(e, wall_offset) for e in entries],
            "complete": recovery.complete,
            "position": position,
            "more": more,
        }

    async def openapi(self, _: Request) -> JSONResponse:
        return JSONResponse(self._openapi)

    # -- steps ------------------------------------------------------------------------

    def _permit(self, key: ApiKey, scope: str, channel: str) -> None:
        key.check(scope, channel)
        self.keys.take(key, self._clock())

    async def _publish(self, request: Request, key: ApiKey, channel: str) -> JSONResponse:
        self._permit(key, "publish", channel)
        idempotency_key = check_idempotency_key(request.headers.get("idempotency-key"))
        body = parse_body(request.headers.get("content-type"), await request.body(),
                          self.max_payload)
        position = await self.send(principal(key), channel, body, idempotency_key)
        return JSONResponse({"id": str(position), "channel": channel, "event": body.event},
                            status_code=202)

    async def send(self, sender: str, channel: str, body: EventBody,
                   idempotency_key: str | None = None) -> StreamPosition:
        """Publish ``body`` to ``channel`` for ``sender`` (``api:<key name>``, already
        permitted), once per idempotency key, which is the sender's own; the MCP endpoint's
        ``send_notification`` sends the same way."""
        scoped = None
        if idempotency_key is not None:
            scoped = IdempotencyKey(sender, idempotency_key)
            self._claim(scoped, _fingerprint(channel, body))
        return await self.broker.publish([channel], Outgoing(body.event, (body.data,), "/"),
                                         idempotency_key=scoped)

    def _claim(self, key: IdempotencyKey, fingerprint: str) -> None:
        """Remember what the key was first used for; refuse it for anything else."""
        seen = self.fingerprints.get(key)
        if seen is None:
            self.fingerprints.put(key, fingerprint)
        elif seen != fingerprint:
            raise IdempotencyConflict(
                "Idempotency-Key was already used for a different request (channel, "
                "event or data); use a new key for a new event")


def _fingerprint(channel: str, body: EventBody) -> str:
    text = "\0".join((channel, body.event, body.encoded))
    return hashlib.sha256(text.encode()).hexdigest()


def _entry(message: Outgoing, wall_offset: float) -> dict[str, Any]:
    return {
        "id": message.id,
        "event": message.event,
        "data": json_data(message.args),
        "publishedAt": iso(message.published_at + wall_offset),
    }
