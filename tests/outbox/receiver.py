"""A local stand-in for n8n's webhook node, on 127.0.0.1.

It answers like a production webhook (200 ``{"message": "Workflow was started"}``; 404 for a
path no workflow listens on), and a test scripts it: a queue of responses (status,
headers such as Retry-After), a gate that holds requests unanswered (a slow n8n, requests
in flight), and going down and coming back up on the same port. Every request is recorded
on arrival with its signature checked, and tests wait for the requests they expect.
``then`` is what a workflow does with a request it accepted (post an event back to the
gateway, say); it runs before the answer, as n8n's nodes before *Respond to Webhook* do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from yellowbox_realtime.errors import SignatureInvalid
from yellowbox_realtime.signing import verify

PATH = "/webhook/yellowbox"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    signature_error: str

    @property
    def key(self) -> str:
        return self.headers.get("idempotency-key", "")

    @property
    def json(self) -> Any:
        return json.loads(self.body)

# The outbox route's signing secret, shared by the stand-in and the gateways under test.
SECRET = "tests-only-outbox-secret-0123456789"


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        # Keys answered 2xx, in order (a key twice: n8n saw a duplicate and said OK twice).
        self.acknowledged: list[str] = []
        self.then: Callable[[Received], Awaitable[None]] | None = None
        self.gate = asyncio.Event()
        self.gate.set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def script(self, *replies: Reply | int) -> None:
        """Answer the next requests so, in order; then 200."""
        self.replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await self.up()

    async def up(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        self.port = self._runner.addresses[0][1]

    async def down(self) -> None:
        """Stop listening: connections are refused until :meth:`up`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        self.gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, predicate: Callable[[Receiver], bool],
                       timeout: float = 15.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self)), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verify(self.secret, headers, body, time.time())
            ok, error = True, ""
        except SignatureInvalid as exc:
            ok, error = False, exc.message
        received = Received(time.monotonic(), request.path, headers, body, ok, error)
        self.requests.append(received)
        await self._notify()
        await self.gate.wait()
        if request.path != PATH:
            return web.json_response(
                {"code": 404, "message": f'The requested webhook "POST {request.path}" is '
                                         "not registered."}, status=404)
        reply = self.replies.popleft() if self.replies else Reply()
        # A gateway killed while this request waited cannot read the answer: not counted.
        alive = request.transport is not None and not request.transport.is_closing()
        if 200 <= reply.status < 300 and alive:
            if self.then is not None and ok:
                await self.then(received)
            self.acknowledged.append(headers.get("idempotency-key", ""))
            await self._notify()
            return web.json_response({"message": "Workflow was started"},
                                     status=reply.status, headers=reply.headers)
        await self._notify()
        return web.json_response({"message": "Error in workflow"}, status=reply.status,
                                 headers=reply.headers)
