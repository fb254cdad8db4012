"""Connections per address and per user, and new connections per second, through a real
gateway on both loopback addresses: the client over a limit reads why; the others do not
notice."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import pytest
import socketio

from tests.conftest import MakeToken
from tests.limits.support import (
    V4,
    V6,
    Listener,
    dual_stack_gateway,
    polling_session,
    url,
    ws_session,
)
from tests.server.ssereader import open_stream
from tests.waiting import until


async def test_connections_per_address_count_every_transport_and_refuse_with_429(
        make_token: MakeToken) -> None:
    async with dual_stack_gateway(limits={
            "max_connections_per_ip": 3, "handshakes_per_ip_per_s": 0,
            "handshake_burst": 0}) as gateway:
        v4 = url(gateway, V4)
        other = await Listener().connect(url(gateway, V6), make_token("ops-6", "operations"))
        async with httpx.AsyncClient(timeout=10) as http, aiohttp.ClientSession() as wsc, \
                open_stream(http, f"{v4}/sse/dashboard",
                            token=make_token("ops-1", "operations")) as stream:
            assert stream.response.status_code == 200
            ws = await ws_session(wsc, v4)
            assert (await polling_session(http, v4)).status_code == 200
            assert gateway.limits.by_ip[V4] == 3

            refused = await polling_session(http, v4)
            assert refused.status_code == 429
            assert refused.headers["retry-after"].isdigit()
            body = refused.json()
            assert body["reason"] == "too_many_connections"
            assert "too many connections from 127.0.0.1" in body["detail"]
            with pytest.raises(aiohttp.WSServerHandshakeError) as upgrade:
                await ws_session(wsc, v4)
            assert upgrade.value.status == 429
            sse = await http.get(f"{v4}/sse/dashboard", headers={
                "Authorization": f"Bearer {make_token('ops-2', 'operations')}"})
            assert sse.status_code == 429
            assert sse.json()["error"]["code"] == "too_many_connections"

            # ::1 is another address: its client carries on, and can still connect.
            await other.still_receives(gateway, "role:operations")
            assert (await polling_session(http, url(gateway, V6))).status_code == 200

            # A connection that ends gives its place back.
            await ws.close()
            await until(lambda: gateway.limits.by_ip.get(V4) == 2)
            assert (await polling_session(http, v4)).status_code == 200
        assert gateway.counters.limited["connections_per_ip"] == 3
        await other.sio.disconnect()


async def test_connections_per_user_refuse_the_next_connect_with_a_reason(
        make_token: MakeToken) -> None:
    async with dual_stack_gateway(limits={"max_connections_per_user": 2}) as gateway:
        base = url(gateway)
        token = make_token("ops-1", "operations")
        first, second = Listener(), Listener()
        await first.connect(base, token)
        await second.connect(url(gateway, V6), token)
        third = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        third.on("connect_error", errors.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await third.connect(base, auth={"token": token}, transports=["websocket"],
                                wait_timeout=5)
        assert "too many connections for user ops-1" in errors[0]["message"]
        async with httpx.AsyncClient(timeout=10) as http:
            sse = await http.get(f"{base}/sse/dashboard",
                                 headers={"Authorization": f"Bearer {token}"})
        assert sse.status_code == 429
        assert sse.json()["error"]["code"] == "too_many_connections"
        # Another user is not affected, and neither are the user's open connections.
        someone = await Listener().connect(base, make_token("ops-2", "operations"))
        await someone.still_receives(gateway, "role:operations")
        await first.still_receives(gateway, "user:ops-1")
        # One leaves: the user may connect again.
        await second.sio.disconnect()
        await until(lambda: gateway.limits.by_user.get("ops-1") == 1)
        await third.connect(base, auth={"token": token}, transports=["websocket"],
                            wait_timeout=5)
        assert gateway.counters.limited["connections_per_user"] == 2
        for client in (first.sio, third, someone.sio):
            await client.disconnect()
        await until(lambda: not gateway.limits.by_user)


async def test_new_connections_per_second_are_a_token_bucket_per_address(
        make_token: MakeToken) -> None:
    async with dual_stack_gateway(limits={"handshakes_per_ip_per_s": 0.01,
                                          "handshake_burst": 3}) as gateway:
        v4 = url(gateway, V4)
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(3):
                assert (await polling_session(http, v4)).status_code == 200
            refused = await polling_session(http, v4)
            assert refused.status_code == 429
            assert refused.json()["reason"] == "rate_limited"
            assert int(refused.headers["retry-after"]) >= 1
            sse = await http.get(f"{v4}/sse/dashboard", headers={
                "Authorization": f"Bearer {make_token('ops-1', 'operations')}"})
            assert sse.status_code == 429
            assert sse.json()["error"]["code"] == "rate_limited"
            # The other address has its own bucket.
            assert (await polling_session(http, url(gateway, V6))).status_code == 200
        assert gateway.counters.limited["handshake_rate"] == 2


async def test_a_trusted_proxy_names_the_client_in_x_forwarded_for(
        make_token: MakeToken) -> None:
    async with dual_stack_gateway(limits={
            "max_connections_per_ip": 1, "trusted_proxies": ["127.0.0.1"]}) as gateway:
        v4, v6 = url(gateway, V4), url(gateway, V6)
        async with httpx.AsyncClient(timeout=10) as http:
            for client in ("203.0.113.7", "2001:db8::7"):
                headers = {"X-Forwarded-For": f"198.51.100.1, {client}"}
                assert (await http.get(f"{v4}/socket.io/?EIO=4&transport=polling",
                                       headers=headers)).status_code == 200
                again = await http.get(f"{v4}/socket.io/?EIO=4&transport=polling",
                                       headers=headers)
                assert again.status_code == 429
                assert client in again.json()["detail"]
            # ::1 is not a trusted proxy: its X-Forwarded-For is ignored.
            spoof = {"X-Forwarded-For": "203.0.113.7"}
            assert (await http.get(f"{v6}/socket.io/?EIO=4&transport=polling",
                                   headers=spoof)).status_code == 200
        assert set(gateway.limits.by_ip) == {"203.0.113.7", "2001:db8::7", V6}
