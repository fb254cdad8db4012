"""``yellowbox-realtime mcp``: the stdio relay a desktop assistant starts, driven by the
official SDK's stdio client against a real ``serve`` (every tool over it: test_tools)."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from mcp.client.subscriptions import listen
from mcp.shared.exceptions import MCPError

from tests.assistant.conftest import Rider, open_stdio_session, token
from tests.assistant.test_updates import Notifications, updated
from tests.processes import GatewayProcess
from yellowbox_realtime.assistant.resources import FLEET_URI, rider_uri
from yellowbox_realtime.cli import MCP_TOKEN_ENV

pytestmark = pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")


async def test_a_desktop_assistant_subscribes_through_the_relay(
        served: GatewayProcess, rider: Rider) -> None:
    heard = Notifications()
    async with open_stdio_session(served.url, token("ops-1"), handshake=True,
                                  message_handler=heard) as client:
        assert client.protocol_version == "2025-11-25"
        await client.subscribe_resource(rider_uri("rider-1"))
        await rider.move(25.08, 55.14)
        assert await heard.until(1) == [rider_uri("rider-1")]
        refused = await client.call_tool("change_expense_status", {"expense": {}})
        assert refused.is_error


async def test_a_2026_client_listens_through_the_relay(served: GatewayProcess,
                                                       rider: Rider) -> None:
    async with (open_stdio_session(served.url, token("ops-1")) as client,
                listen(client, resource_subscriptions=[FLEET_URI]) as stream):
        await rider.move(25.08, 55.14)
        await updated(stream, {FLEET_URI})


async def test_a_refused_credential_is_an_answer_not_a_hang(served: GatewayProcess) -> None:
    for handshake in (False, True):
        with pytest.RaisesGroup(MCPError, flatten_subgroups=True):
            async with open_stdio_session(served.url, "not-a-token", handshake=handshake):
                pass


async def test_the_relay_needs_a_credential_in_its_environment() -> None:
    env = {k: v for k, v in os.environ.items() if k != MCP_TOKEN_ENV}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "yellowbox_realtime.cli", "mcp", env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert out == b""
    assert MCP_TOKEN_ENV.encode() in err
