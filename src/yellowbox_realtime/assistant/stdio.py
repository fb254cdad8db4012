"""``yellowbox-realtime mcp``: a desktop assistant's stdio, relayed to a gateway's ``/mcp``.

Desktop assistants start MCP servers as subprocesses and talk JSON-RPC over stdin and
stdout. This relay is such a subprocess: it passes each message, unchanged, to the running
gateway's streamable HTTP endpoint with the configured credential, and each answer and
notification back. So there is one MCP server, the gateway's, with one set of tools and one
policy; the relay holds no state beyond the SDK's transports.

Both dialects pass: a handshake-era client's (``initialize``, then a session), and a
2026-07-28 client's stateless requests, to which the relay adds the routing headers
(``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``) that streamable HTTP carries beside
each such request's body and stdio has no room for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import PROTOCOL_VERSION_META_KEY, JSONRPCRequest

__all__ = ["relay"]

log = logging.getLogger(__name__)


async def relay(url: str, headers: Mapping[str, str]) -> None:
    """Relay stdin to ``url`` and its answers to stdout until stdin ends."""
    # The SDK's own timeouts for its transports: a response stream may stay open for long.
    http = httpx2.AsyncClient(headers=dict(headers), timeout=httpx2.Timeout(30.0, read=300.0))
    async with (http, stdio_server() as (from_assistant, to_assistant),
                streamable_http_client(url, http_client=http) as (from_gateway, to_gateway),
                anyio.create_task_group() as group):

        async def upstream() -> None:
            await _pump(from_assistant, to_gateway, "assistant")
            group.cancel_scope.cancel()  # stdin ended: the assistant is done with us

        group.start_soon(upstream)
        group.start_soon(_pump, from_gateway, to_assistant, "gateway")


async def _pump(source: ReadStream[SessionMessage | Exception],
                sink: WriteStream[SessionMessage], name: str) -> None:
    async for item in source:
        if isinstance(item, Exception):
            # A line that is not JSON-RPC, or a request the gateway refused at the door
            # (401, 429): said on stderr, the assistant's log; the relay carries on.
            log.warning("from the %s: %s", name, item)
            continue
        headers = routing_headers(item.message)
        if headers:
            item = SessionMessage(item.message, ClientMessageMetadata(headers=headers))
        await sink.send(item)


def routing_headers(message: object) -> dict[str, str]:
    """The headers a 2026-07-28 request travels with over HTTP (none for anything else:
    a handshake-era session's version header is the transport's own)."""
    if not isinstance(message, JSONRPCRequest) or not isinstance(message.params, dict):
        return {}
    meta = message.params.get("_meta")
    version = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
    if not isinstance(version, str):
        return {}
    headers = {MCP_PROTOCOL_VERSION_HEADER: version, MCP_METHOD_HEADER: message.method}
    name_key = NAME_BEARING_METHODS.get(message.method)
    name = message.params.get(name_key) if name_key is not None else None
    if isinstance(name, str):
        headers[MCP_NAME_HEADER] = encode_header_value(name)
    return headers
