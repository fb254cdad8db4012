"""Engine.IO v4 on the wire, driven with plain HTTP (httpx) and WebSocket (aiohttp)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import httpx
import pytest

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.waiting import until
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.config import ServerConfig
from yellowbox_realtime.server.engineio import first_ping_slot


def eio_url(gateway: Gateway, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"EIO": "4", **params}.items())
    return f"{gateway.url}/socket.io/?{query}"


async def handshake(client: httpx.AsyncClient, gateway: Gateway) -> dict[str, Any]:
    response = await client.get(eio_url(gateway, transport="polling"))
    assert response.status_code == 200
    assert response.text.startswith("0")
    opened: dict[str, Any] = json.loads(response.text[1:])
    return opened


async def test_polling_handshake_announces_the_configured_session(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(engineio={
        "ping_interval_ms": 300, "ping_timeout_ms": 200, "max_payload": 1000}))
    async with httpx.AsyncClient() as client:
        opened = await handshake(client, gateway)
    assert opened["upgrades"] == ["websocket"]
    assert (opened["pingInterval"], opened["pingTimeout"], opened["maxPayload"]) == (
        300, 200, 1000)
    assert len(opened["sid"]) == 20


@pytest.mark.parametrize(
    ("params", "method", "status", "code"),
    [
        ({"EIO": "3", "transport": "polling"}, "GET", 400, 5),
        ({"transport": "carrier-pigeon"}, "GET", 400, 0),
        ({"transport": "polling", "sid": "no-such-session"}, "GET", 400, 1),
        ({"transport": "polling"}, "POST", 400, 2),
        ({"transport": "websocket"}, "GET", 400, 3),
    ],
)
async def test_bad_requests_get_engineio_error_codes(gateway: Gateway, params: dict[str, str],
                                                     method: str, status: int,
                                                     code: int) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.request(method, eio_url(gateway, **params), content=b"4x")
    assert response.status_code == status
    assert response.json()["code"] == code


async def test_cors_for_allowed_origins_and_refusal_for_others(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(
        server={"allowed_origins": ["https://app.yellowbox.example"]}))
    async with httpx.AsyncClient() as client:
        ok = await client.get(eio_url(gateway, transport="polling"),
                              headers={"Origin": "https://app.yellowbox.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.yellowbox.example"
        assert ok.headers["access-control-allow-credentials"] == "true"
        preflight = await client.options(eio_url(gateway, transport="polling"), headers={
            "Origin": "https://app.yellowbox.example",
            "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204
        assert "POST" in preflight.headers["access-control-allow-methods"]
        evil = await client.get(eio_url(gateway, transport="polling"),
                                headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403
        assert evil.json()["message"] == "Forbidden"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(eio_url(gateway, transport="websocket"),
                                     origin="https://evil.example")
        assert info.value.status == 403


async def test_the_gateways_own_origin_is_allowed_whatever_the_list_says(
        make_gateway: MakeGateway) -> None:
    # The default allow-list names port 3001; this gateway listens on another.
    gateway = await make_gateway(gateway_config(server={"allowed_origins": list(
        ServerConfig().allowed_origins)}))
    assert gateway.port != 3001
    own = [f"http://{host}:{gateway.port}" for host in ("127.0.0.1", "localhost", "[::1]")]
    foreign = [f"http://127.0.0.1:{gateway.port + 1}", f"https://127.0.0.1:{gateway.port}",
               "http://evil.example"]
    async with httpx.AsyncClient() as client:
        for origin in own:
            ok = await client.get(eio_url(gateway, transport="polling"),
                                  headers={"Origin": origin})
            assert ok.status_code == 200, origin
            assert ok.headers["access-control-allow-origin"] == origin
        for origin in foreign:
            refused = await client.get(eio_url(gateway, transport="polling"),
                                       headers={"Origin": origin})
            assert refused.status_code == 403, origin
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(eio_url(gateway, transport="websocket"),
                                      origin=own[0]) as ws:
            assert (await ws.receive_str()).startswith("0{")
        for origin in foreign:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(eio_url(gateway, transport="websocket"),
                                         origin=origin)
            assert info.value.status == 403


async def test_long_poll_waits_for_data_and_post_delivers_packets(gateway: Gateway) -> None:
    async with httpx.AsyncClient() as client:
        sid = (await handshake(client, gateway))["sid"]
        poll = asyncio.create_task(client.get(eio_url(gateway, transport="polling", sid=sid)))
        # A Socket.IO CONNECT without auth on an auth-requiring namespace: the refusal
        # arrives on the waiting GET.
        posted = await client.post(eio_url(gateway, transport="polling", sid=sid),
                                   content=b"40")
        assert posted.status_code == 200
        assert posted.text == "ok"
        response = await asyncio.wait_for(poll, 5)
        assert response.text.startswith('44{"message":"authentication required')


async def test_malformed_polling_body_closes_the_session(gateway: Gateway) -> None:
    async with httpx.AsyncClient() as client:
        sid = (await handshake(client, gateway))["sid"]
        bad = await client.post(eio_url(gateway, transport="polling", sid=sid), content=b"9zz")
        assert bad.status_code == 400
        gone = await client.get(eio_url(gateway, transport="polling", sid=sid))
        assert gone.status_code == 400
        assert gone.json()["code"] == 1


async def test_websocket_session_heartbeat_and_ping_timeout(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(engineio={
        "ping_interval_ms": 50, "ping_timeout_ms": 100}))
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(eio_url(gateway, transport="websocket")) as ws:
        opened = await ws.receive_str(timeout=5)
        assert opened.startswith("0")
        assert json.loads(opened[1:])["upgrades"] == []
        for _ in range(3):
            assert await ws.receive_str(timeout=5) == "2"
            await ws.send_str("3")
        # Stop answering: the server closes the session after the timeout.
        while True:
            message = await ws.receive(timeout=5)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
            assert message.data == "2"
    assert gateway.stats()["sessions"] == 0


async def test_polling_upgrades_to_websocket(gateway: Gateway) -> None:
    async with httpx.AsyncClient() as client, aiohttp.ClientSession() as session:
        sid = (await handshake(client, gateway))["sid"]
        poll = asyncio.create_task(client.get(eio_url(gateway, transport="polling", sid=sid)))
        async with session.ws_connect(eio_url(gateway, transport="websocket", sid=sid)) as ws:
            await ws.send_str("2probe")
            assert await ws.receive_str(timeout=5) == "3probe"
            assert (await asyncio.wait_for(poll, 5)).text == "6"  # the pending GET is released
            await ws.send_str("5")
            await ws.send_str("40")  # now on the WebSocket
            refusal = await ws.receive_str(timeout=5)
            assert refusal.startswith('44{"message":"authentication required')
            late = await client.get(eio_url(gateway, transport="polling", sid=sid))
            assert late.status_code == 400


async def test_invalid_websocket_frames_close_with_the_rfc_code(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(eio_url(gateway, transport="websocket")) as ws:
        await ws.receive_str(timeout=5)
        await ws.send_str("9 not an engine.io packet")
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == 1002


async def test_a_session_that_joins_no_namespace_is_closed(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(engineio={"connect_timeout_ms": 100}))
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(eio_url(gateway, transport="websocket")) as ws:
        await ws.receive_str(timeout=5)
        assert await ws.receive_str(timeout=5) == "1"  # the close packet
        message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert gateway.stats()["sessions"] == 0


async def test_an_upgrade_that_never_probes_times_out_and_polling_carries_on(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(engineio={"upgrade_timeout_ms": 100}))
    async with httpx.AsyncClient() as client, aiohttp.ClientSession() as session:
        sid = (await handshake(client, gateway))["sid"]
        async with session.ws_connect(eio_url(gateway, transport="websocket", sid=sid)) as ws:
            message = await ws.receive(timeout=5)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1000
        posted = await client.post(eio_url(gateway, transport="polling", sid=sid),
                                   content=b"40")
        assert posted.text == "ok"
        answer = await client.get(eio_url(gateway, transport="polling", sid=sid))
        assert answer.text.startswith("44")


async def test_an_unsupported_websocket_version_gets_426_naming_ours(gateway: Gateway) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(eio_url(gateway, transport="websocket"), headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status_code == 426
    assert response.headers["sec-websocket-version"] == "13"
    assert "version 13 is required" in response.json()["detail"]


async def test_a_socket_keeps_its_handshake_without_credentials(
        gateway: Gateway, make_token: MakeToken) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(
            eio_url(gateway, transport="websocket", fleet="north", EIO="4"),
            headers={"Cookie": "session=secret", "Authorization": "Bearer secret",
                     "X-App-Version": "2.4.1", "User-Agent": "yellowbox-web"}) as ws:
        assert (await ws.receive_str()).startswith("0{")
        await ws.send_str("40" + json.dumps({"token": make_token("ops-1", "operations")}))
        assert (await ws.receive_str()).startswith('40{"sid"')
        (socket,) = gateway.main.sockets.values()
        info = socket.handshake
        assert info.headers["x-app-version"] == "2.4.1"
        assert info.headers["user-agent"] == "yellowbox-web"
        assert {"cookie", "authorization", "upgrade", "sec-websocket-key"}.isdisjoint(
            info.headers)
        assert info.query == {"fleet": "north"}
        assert info.url.startswith("/socket.io/?")
        assert info.address == "127.0.0.1"


async def test_a_second_websocket_for_an_upgraded_session_is_closed_and_the_first_carries_on(
        gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(
            eio_url(gateway, transport="websocket")) as first:
        sid = json.loads((await first.receive_str())[1:])["sid"]
        async with session.ws_connect(eio_url(gateway, transport="websocket", sid=sid)) as second:
            message = await asyncio.wait_for(second.receive(), 5)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await first.send_str("40")  # the session's own socket is still served
        reply = await asyncio.wait_for(first.receive_str(), 5)
        assert reply.startswith('44{"message":"authentication required')


# A pending polling GET against the three things that end it, in every order: what the GET
# answers, and whether the upgrade (if it comes after the close) is refused. Whatever the
# order, the session ends closed.
@pytest.mark.parametrize(("order", "get_answer", "upgrade_refused"), [
    (("close", "upgrade", "ping"), "6", True),
    (("close", "ping", "upgrade"), "6", True),
    (("upgrade", "close", "ping"), "6", False),
    (("upgrade", "ping", "close"), "6", False),
    (("ping", "close", "upgrade"), "2", True),
    (("ping", "upgrade", "close"), "2", False),
])
async def test_a_pending_poll_against_close_upgrade_and_ping(
        make_gateway: MakeGateway, order: tuple[str, ...], get_answer: str,
        upgrade_refused: bool) -> None:
    # Steps before the first ping take milliseconds; the first ping comes an interval after
    # the open, so it never overtakes them.
    gateway = await make_gateway(gateway_config(engineio={
        "ping_interval_ms": 400, "ping_timeout_ms": 5000}))
    async with httpx.AsyncClient() as client, aiohttp.ClientSession() as http:
        sid = (await handshake(client, gateway))["sid"]
        url = eio_url(gateway, transport="polling", sid=sid)
        poll: asyncio.Task[httpx.Response] | None = asyncio.create_task(client.get(url))
        assert gateway._engine is not None
        session = gateway._engine.sessions[sid]
        await until(lambda: session.poll_waiting)
        ws: aiohttp.ClientWebSocketResponse | None = None
        closed = False

        async def answered() -> str:
            nonlocal poll
            assert poll is not None
            response = await asyncio.wait_for(poll, 5)
            poll = None
            assert response.status_code == 200
            return response.text

        for step in order:
            if step == "ping" and not closed:
                if ws is None:
                    assert await answered() == "2"
                    assert (await client.post(url, content=b"3")).text == "ok"
                else:
                    assert await ws.receive_str(timeout=5) == "2"
                    await ws.send_str("3")
            elif step == "upgrade":
                if upgrade_refused and closed:
                    with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
                        await http.ws_connect(eio_url(gateway, transport="websocket", sid=sid))
                    assert refusal.value.status == 400
                    continue
                ws = await http.ws_connect(eio_url(gateway, transport="websocket", sid=sid))
                await ws.send_str("2probe")
                assert await ws.receive_str(timeout=5) == "3probe"
                if poll is not None:
                    assert await answered() == get_answer
                await ws.send_str("5")
            elif step == "close":
                if ws is None:
                    assert (await client.post(url, content=b"1")).text == "ok"
                    if poll is not None:
                        assert await answered() == get_answer
                else:
                    await ws.send_str("1")
                    assert (await ws.receive(timeout=5)).type is aiohttp.WSMsgType.CLOSE
                closed = True
        assert closed
        assert poll is None
        gone = await client.get(url)
        assert (gone.status_code, gone.json()["code"]) == (400, 1)
        if ws is not None:
            await ws.close()


async def test_a_close_that_overtakes_the_pending_poll_leaves_it_unknown(
        gateway: Gateway) -> None:
    """As with socket.io's server: the POST's close packet ends the session, so the GET
    sent before it but arriving after is for an unknown session."""
    async with httpx.AsyncClient() as client:
        sid = (await handshake(client, gateway))["sid"]
        url = eio_url(gateway, transport="polling", sid=sid)
        assert (await client.post(url, content=b"1")).text == "ok"
        late = await client.get(url)
        assert (late.status_code, late.json()["code"]) == (400, 1)


@pytest.mark.parametrize(("opened", "interval", "timeout"), [
    (0.0, 0.3, 0.2), (0.001, 0.3, 0.2), (0.049, 0.3, 0.2), (0.05, 0.3, 0.2),
    (1234.5678, 25.0, 20.0), (7.0, 0.3, 0.02), (3.21, 0.2, 5.0), (0.1, 0.2, 0.2),
])
def test_a_first_ping_no_earlier_than_the_interval_and_its_close_no_later_than_the_timeout(
        opened: float, interval: float, timeout: float) -> None:
    ping_at, close_at = first_ping_slot(opened, interval, timeout)
    assert ping_at >= opened + interval
    assert close_at <= opened + interval + timeout + 1e-9
    assert close_at - ping_at >= 0.75 * timeout - 1e-9
