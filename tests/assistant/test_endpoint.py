"""The door at ``/mcp``: nothing anonymous, the limits every client has (body size, request
rate, sessions), sessions bound to their owner, and bad input answered while other
clients carry on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.assistant.conftest import (
    ASSISTANT_KEY,
    MAX_BODY_BYTES,
    SESSIONS_PER_USER,
    Session,
    open_session,
    token,
)
from tests.conftest import MakeGateway, gateway_config
from tests.processes import GatewayProcess
from yellowbox_realtime.app import Gateway

ACCEPT = {"Accept": "application/json, text/event-stream"}
# What the official client sends with a 2026-07-28 request beside the body.
MODERN = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {}}}}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "test", "version": "1"}}}


@pytest.fixture
async def http(served: GatewayProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
        yield client


def bearer(credential: str) -> dict[str, str]:
    return {**ACCEPT, "Authorization": f"Bearer {credential}"}


def modern(credential: str) -> dict[str, str]:
    return {**bearer(credential), **MODERN}


async def test_nothing_anonymous(http: httpx.AsyncClient) -> None:
    for headers in (ACCEPT, bearer("not-a-token"), {**ACCEPT, "Authorization": "Basic eDp5"}):
        refused = await http.post("/mcp", json=LIST_TOOLS, headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"].startswith("Bearer ")
        assert refused.json()["error"]["code"] == "authentication_failed"
    assert (await http.get("/mcp", headers=ACCEPT)).status_code == 401
    assert (await http.delete("/mcp")).status_code == 401
    # The official client is refused too, before any tool runs.
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):
        async with open_session(str(http.base_url).rstrip("/"), "not-a-token"):
            pass


async def test_an_oversized_body_is_refused_and_the_client_carries_on(
        http: httpx.AsyncClient, session: Session) -> None:
    big = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "send_notification",
        "arguments": {"to": "user", "target": "rider-1", "data": "x" * MAX_BODY_BYTES}}}
    refused = await http.post("/mcp", json=big, headers=bearer(ASSISTANT_KEY))
    assert refused.status_code == 413
    async with session(ASSISTANT_KEY) as client:
        with pytest.raises(MCPError):
            await client.call_tool("send_notification", {
                "to": "user", "target": "rider-1", "data": "x" * MAX_BODY_BYTES})
        assert len((await client.list_tools()).tools) > 10


async def test_bad_arguments_are_answered_while_another_client_carries_on(
        session: Session) -> None:
    async with session(token("ops-1")) as bad, session(token("ops-2")) as good:

        async def misbehave() -> None:
            for _ in range(5):
                out_of_range = await bad.call_tool("riders_near", {"latitude": 200,
                                                                   "longitude": 55})
                assert out_of_range.is_error
                assert "latitude" in getattr(out_of_range.content[0], "text", "")
                missing = await bad.call_tool("rider_status", {})
                assert missing.is_error
                assert "rider_id" in getattr(missing.content[0], "text", "")
                wrong_type = await bad.call_tool("open_alerts", {"limit": "many"})
                assert wrong_type.is_error
                with pytest.raises(MCPError) as unknown:
                    await bad.read_resource("yellowbox://nothing-here")
                assert unknown.value.error.code == types.INVALID_PARAMS
                with pytest.raises(MCPError, match="rider_id") as no_argument:
                    await bad.get_prompt("investigate_rider", {})
                assert no_argument.value.error.code == types.INVALID_PARAMS

        async def behave() -> list[dict[str, Any]]:
            answers = []
            for _ in range(5):
                result = await good.call_tool("fleet_overview", {})
                assert not result.is_error
                assert result.structured_content is not None
                answers.append(result.structured_content)
            return answers

        _, answers = await asyncio.gather(misbehave(), behave())
        assert all(a["riders"]["total"] == 0 for a in answers)
        assert not (await bad.call_tool("list_geofences", {})).is_error


async def test_sessions_are_bounded_per_user_and_bound_to_their_owner(
        http: httpx.AsyncClient, session: Session) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(SESSIONS_PER_USER):
            await stack.enter_async_context(session(token("ops-1"), handshake=True))
        refused = await http.post("/mcp", json=INITIALIZE, headers=bearer(token("ops-1")))
        assert refused.status_code == 503
        assert "Too many open sessions" in refused.text
        # Another user (an API key too) still opens theirs.
        async with session(token("ops-2"), handshake=True) as other:
            assert (await other.list_tools()).tools
        opened = await http.post("/mcp", json=INITIALIZE, headers=bearer(ASSISTANT_KEY))
        assert opened.status_code == 200
        session_id = opened.headers["mcp-session-id"]
        # Someone else's credential with this session id finds no session.
        stolen = await http.post("/mcp", json={**LIST_TOOLS, "params": {}}, headers={
            **bearer(token("ops-1")), "Mcp-Session-Id": session_id,
            "MCP-Protocol-Version": "2025-11-25"})
        assert stolen.status_code == 404
        ended = await http.delete("/mcp", headers={**bearer(ASSISTANT_KEY),
                                                   "Mcp-Session-Id": session_id})
        assert ended.status_code in (200, 204)
    # The sessions ended with their clients: the user may open more again.
    async with session(token("ops-1"), handshake=True) as again:
        assert (await again.list_tools()).tools


@pytest.fixture
async def slow_gateway(make_gateway: MakeGateway) -> Gateway:
    """A gateway whose users may send 3 requests at once, then 1 a second."""
    return await make_gateway(gateway_config(api={"rate_per_s": 1, "burst": 3}))


async def test_requests_beyond_the_users_rate_are_refused(slow_gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=slow_gateway.url, timeout=15) as http:
        statuses = [(await http.post("/mcp", json=LIST_TOOLS, headers=modern(
            token("ops-1")))).status_code for _ in range(6)]
        assert statuses[:3] == [200, 200, 200]
        assert 429 in statuses[3:]
        limited = await http.post("/mcp", json=LIST_TOOLS, headers=modern(token("ops-1")))
        assert limited.json()["error"]["code"] == "rate_limited"
        # Another user's budget is their own.
        assert (await http.post("/mcp", json=LIST_TOOLS, headers=modern(
            token("ops-2")))).status_code == 200
