"""``yellowbox-realtime mcp``: a desktop assistant's stdio, relayed to a gateway's ``/mcp``.

Desktop assistants start MCP servers as subprocesses and talk JSON-RPC over stdin and
stdout. This relay is such a subprocess: it passes each message, unchanged, to the running
gateway's streamable HTTP endpoint with the configured credential, and each answer and
notification back. So there is one MCP server, the gateway's, with one set of tools and one
policy; the relay holds no state beyond the SDK's transports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage

__all__ = ["relay"]

log = logging.getLogger(__name__)


async def relay(url: str, headers: Mapping[str, str]) -> None:
    """Relay stdin to ``url`` and its answers to stdout until stdin ends."""
    http = create_mcp_http_client(headers=dict(headers))
    async with (stdio_server() as (from_assistant, to_assistant),
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
        await sink.send(item)
