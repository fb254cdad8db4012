"""The inbound webhooks: ``POST /api/v1/webhooks/n8n`` and ``POST /api/v1/webhooks/firebase``.

Each request is checked in this order, and the first failure answers:

1. the source is configured (503 ``webhook_not_configured`` otherwise, see
   :class:`~yellowbox_realtime.errors.WebhookNotConfigured`);
2. who sent it (``webhook_auth``): 413 over ``webhooks.max_body_bytes``, 401 unsigned or
   wrongly signed or stale, 409 the same signed request again;
3. what it says (``webhook_bodies``): 415 not JSON, 400 malformed JSON, 422 not the
   source's schema or refused by the domain;
4. published through the broker every door holds, like every other event (the domain's
   checks of its own events, history, fan-out, the outbox).

A verified request that fails after step 2 is released from the replay cache, so the
sender's retry of the very same bytes, once fixed or once the gateway can take it, is not
refused as a replay.

Idempotency: the body's ``id`` is the broker's idempotency key, scoped to the source
(owned by ``webhook:<source>``): an event sent twice is delivered once, and the second answer
carries the first one's stream id with ``duplicate: true``. A publish is a duplicate when
the broker answers with a position it had already reached before the call (a new event is
always numbered after it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..config import WebhooksConfig
from ..core.broker import Broker
from ..core.hub import Outgoing
from ..core.idempotency import IdempotencyKey
from ..errors import WebhookNotConfigured
from ..messages import StreamPosition
from .validation import parse_json
from .webhook_auth import WebhookAuthConfig, WebhookVerifier
from .webhook_bodies import Inbound, parse_firebase, parse_n8n

__all__ = ["WebhooksApi"]

PREFIX = "/api/v1/webhooks"

Parser = Callable[[object, int], Inbound]


class WebhooksApi:
    def __init__(self, broker: Broker, config: WebhooksConfig, max_payload: int, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.broker = broker
        self.max_payload = max_payload
        self._clock = clock
        self.verifiers = {
            source: WebhookVerifier(WebhookAuthConfig(
                secrets=secrets, tolerance_s=config.tolerance_s,
                max_body_bytes=config.max_body_bytes,
                accept_shared_secret=source in config.shared_secret,
                max_remembered=config.max_remembered), where=f"webhooks.{source}")
            for source, secrets in config.secrets.items() if secrets}

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/n8n", self.n8n, methods=["POST"]),
            Route(f"{PREFIX}/firebase", self.firebase, methods=["POST"]),
        ]

    async def n8n(self, request: Request) -> JSONResponse:
        return await self._receive(request, "n8n", parse_n8n)

    async def firebase(self, request: Request) -> JSONResponse:
        return await self._receive(request, "firebase", parse_firebase)

    async def _receive(self, request: Request, source: str, parse: Parser) -> JSONResponse:
        verifier = self.verifiers.get(source)
        if verifier is None:
            raise WebhookNotConfigured(f"the {source} webhook is off: configure its secrets "
                                       f"under [webhooks.secrets] ({source} = [...])")
        verifier.check_length(request.headers)
        body = await request.body()
        verified = verifier.verify(request.headers, body, self._clock())
        try:
            inbound = parse(parse_json(request.headers.get("content-type"), body),
                            self.max_payload)
            key = IdempotencyKey(f"webhook:{source}", inbound.id)
            # No await between this and the publish: nothing else is numbered in between.
            before = self.broker.position()
            position = await self._apply(inbound, key)
        except BaseException:
            verifier.release(verified)
            raise
        duplicate = position.epoch == before.epoch and position.offset <= before.offset
        return JSONResponse({"id": str(position), "duplicate": duplicate}, status_code=202)

    async def _apply(self, inbound: Inbound, key: IdempotencyKey) -> StreamPosition:
        action = inbound.action
        return await self.broker.publish([action.channel],
                                         Outgoing(action.event, (action.data,)),
                                         idempotency_key=key)
