"""``/mcp``: the MCP server on the gateway's own front (streamable HTTP).

The front hands ``/mcp`` to this ASGI app through its ASGI bridge, which streams responses
without a length (the SSE answers and subscription streams) chunk by chunk. The door here
authenticates every request before the SDK sees it: nothing anonymous (401 with
``WWW-Authenticate: Bearer``), refused beyond the caller's request budget (429). The caller
rides on to the tools on the ASGI scope, and as the session's owner, so a session id is
useless with anyone else's credentials. Sessions (clients of the handshake-era protocol)
are bounded in all and per user; so are subscription streams (:mod:`.updates`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, AuthorizationContext
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import (
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)
from starlette.datastructures import Headers

from ..api.publish import PublishApi
from ..config import McpConfig
from ..core.hub import Hub
from ..errors import AuthBackendUnavailable, AuthenticationError, GatewayError
from ..operations import Operations
from ..server.asgi import Receive, Scope, Send
from .access import SCOPE_KEY, Access, principal
from .resources import PromptArguments, ReadGuard, register_prompts, register_resources
from .tools import Services, register_tools
from .updates import BoundedListen, LegacySubscriptions, ResourceWatch

__all__ = ["MCP_PATH", "McpEndpoint"]

MCP_PATH = "/mcp"
INSTRUCTIONS = (
    "Yellow Box Realtime: the live state of a delivery-rider fleet (riders' status and "
    "positions, geofences, alerts) and its back office (expenses, orders). Read with the "
    "tools or the resources; subscribe to a resource to hear when it changes. What you may "
    "read and change is what your token's role or your API key's scopes allow.")


class _SessionsPerOwner(StreamableHTTPSessionManager):
    """The SDK's session manager, with sessions also bounded per owner, and told to
    ``ended`` when one ends (DELETE, idle timeout, crash) so its subscriptions go too."""

    def __init__(self, *args: Any, per_owner: int, ended: Callable[[str], None],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.per_owner = per_owner
        self.ended = ended

    def _admit_session(self, requestor: AuthorizationContext | None
                       ) -> StreamableHTTPServerTransport | None:
        owned = sum(1 for owner in self._session_owners.values() if owner == requestor)
        if owned >= self.per_owner:
            return None  # answered 503 "Too many open sessions", as at the overall limit
        return super()._admit_session(requestor)

    async def _discard_session(self, session_id: str,
                               transport: StreamableHTTPServerTransport) -> None:
        self.ended(session_id)
        await super()._discard_session(session_id, transport)


class McpEndpoint:
    def __init__(self, config: McpConfig, operations: Operations, publish: PublishApi,
                 access: Access, hub: Hub, max_body_bytes: int) -> None:
        # The SDK says at INFO what it does for each session and request: that would be a
        # line in the gateway's log for every client request.
        logging.getLogger("mcp").setLevel(logging.WARNING)
        self.config = config
        self.access = access
        self.bus = InMemorySubscriptionBus()
        self.server: MCPServer[Any] = MCPServer(
            "yellowbox-realtime", title="Yellow Box Realtime",
            version=version("yellowbox-realtime"),
            instructions=INSTRUCTIONS, subscriptions=self.bus, log_level="WARNING",
            middleware=[ReadGuard(access), PromptArguments()])
        register_tools(self.server, Services(operations, publish, access, publish.max_payload))
        register_resources(self.server, operations)
        register_prompts(self.server)
        self.watch = ResourceWatch(hub, self.bus, config.update_interval_s, config.max_sessions)
        self.listen = BoundedListen(self.bus, self.watch, access, access.limits, config)
        # MCPServer has no option for these handlers: they go on its lowlevel server.
        lowlevel = self.server._lowlevel_server
        lowlevel.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams,
                                     self.listen)
        legacy = LegacySubscriptions(self.watch, access, config)
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams,
                                     legacy.subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams,
                                     legacy.unsubscribe)
        self.sessions = _SessionsPerOwner(
            lowlevel, session_idle_timeout=config.session_idle_timeout_s,
            max_request_body_size=max_body_bytes, max_sessions=config.max_sessions,
            per_owner=config.max_sessions_per_user, ended=self.watch.unwatch,
            # Every request carries a credential a rebinding page cannot have, so the Host
            # and Origin checks (the SDK's DNS rebinding guard) would add nothing.
            security_settings=TransportSecuritySettings(
                enable_dns_rebinding_protection=False))
        self._app = StreamableHTTPASGIApp(self.sessions)
        self._running: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Run the session manager (its task group) in a task of its own until close."""
        started = asyncio.Event()

        async def run() -> None:
            async with self.sessions.run():
                started.set()
                await self._stop.wait()

        self._running = asyncio.get_running_loop().create_task(run())
        await started.wait()
        self.watch.start()

    async def close(self) -> None:
        await self.watch.close()
        self.listen.inner.close()
        if self._running is not None:
            self._stop.set()
            await asyncio.gather(self._running, return_exceptions=True)
            self._running = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            caller = await self.access.authenticate(Headers(scope=scope))
        except GatewayError as exc:
            await _refuse(exc, send)
            return
        scope[SCOPE_KEY] = caller
        who = principal(caller)
        scope["user"] = AuthenticatedUser(AccessToken(token="", client_id=who, scopes=[],
                                                      subject=who))
        await self._app(scope, receive, send)


async def _refuse(exc: GatewayError, send: Send) -> None:
    headers = [(b"content-type", b"application/json")]
    if isinstance(exc, AuthenticationError) and not isinstance(exc, AuthBackendUnavailable):
        challenge = f'Bearer realm="yellowbox-realtime", error="invalid_token", ' \
                    f'error_description="{exc.message[:200].replace(chr(34), chr(39))}"'
        headers.append((b"www-authenticate", challenge.encode("latin-1", "replace")))
    body = json.dumps({"error": {"code": exc.code, "message": exc.message}}).encode()
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
