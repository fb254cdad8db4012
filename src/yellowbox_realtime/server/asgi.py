"""A minimal in-process bridge from the HTTP front to an ASGI application.

Requests that are not streaming routes (REST API, webhooks, health, static files) run in
the ASGI app (Starlette), so they get a well-kept framework without a second server. The
request body is already complete when the app runs (the front enforces the size limit).
A response with a Content-Length is written as is; one without is sent chunked, so
streaming responses work too, each chunk waiting until the client has read enough of the
one before (the front's flow control).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..errors import GatewayError
from .http import HttpConnection, Request

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AsgiBridge:
    def __init__(self, app: ASGIApp, server: tuple[str, int] | None = None, *,
                 scheme: str = "http") -> None:
        self.app = app
        self.server = server
        self.scheme = scheme
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, request: Request, conn: HttpConnection) -> None:
        task = asyncio.get_running_loop().create_task(self._run(request, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, request: Request, conn: HttpConnection) -> None:
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "method": request.method,
            "scheme": self.scheme,
            "path": request.path,
            "raw_path": request.path.encode(),
            "query_string": request.query_string.encode("latin-1"),
            "root_path": "",
            "headers": request.raw_headers,
            "client": request.client,
            "server": self.server,
        }
        disconnected = asyncio.Event()
        conn.on_close = disconnected.set
        body_sent = False
        started: dict[str, Any] = {}
        streaming = False

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                started["status"] = message["status"]
                started["headers"] = [(k.decode("latin-1"), v.decode("latin-1"))
                                      for k, v in message.get("headers", [])]
                return
            if message["type"] != "http.response.body" or conn.closed:
                return
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            headers = started["headers"]
            declared = next((v for k, v in headers if k.lower() == "content-length"), None)
            if not streaming:
                rest = [(k, v) for k, v in headers if k.lower() != "content-length"]
                if not more:
                    conn.respond(started["status"], rest, body)
                    return
                length = int(declared) if declared is not None else None
                conn.start_response(started["status"], rest, content_length=length)
                streaming = True
            if more:
                conn.write_body(body)
                # Backpressure: the next chunk waits until the client reads this one.
                await conn.front.wait_drained(conn)
            else:
                conn.end_response(body)

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("ASGI application failed on %s %s", request.method, request.path)
            if not started and not conn.closed:
                conn.respond_error(GatewayError("internal server error"), close=True)
        finally:
            conn.on_close = None
