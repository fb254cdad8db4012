"""A session's first ping comes no earlier than ``ping_interval`` after it opened, whenever
in the heartbeat's rounds it opened: a client that reads the first message after the open
must not find a ping there before the interval is up."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx

from tests.conftest import MakeGateway, gateway_config
from tests.server.test_engineio import eio_url, handshake

INTERVAL_MS = 200


async def test_no_session_is_pinged_before_its_ping_interval(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(engineio={
        "ping_interval_ms": INTERVAL_MS, "ping_timeout_ms": 5000},
        limits={"handshakes_per_ip_per_s": 0, "handshake_burst": 0}))
    loop = asyncio.get_running_loop()
    interval = INTERVAL_MS / 1000
    async with aiohttp.ClientSession() as http, httpx.AsyncClient() as polling:
        # A client already connected, answering its pings all along.
        other = await http.ws_connect(eio_url(gateway, transport="websocket"))
        assert (await other.receive_str(timeout=5)).startswith("0")
        answered = 0

        async def keep_answering() -> None:
            nonlocal answered
            while True:
                if await other.receive_str() == "2":
                    await other.send_str("3")
                    answered += 1

        answering = asyncio.create_task(keep_answering())

        async def open_websocket() -> asyncio.Task[float]:
            """Open a session; its task ends with the seconds from before the handshake
            to the first ping."""
            started = loop.time()
            ws = await http.ws_connect(eio_url(gateway, transport="websocket"))
            assert (await ws.receive_str(timeout=5)).startswith("0")

            async def first_ping() -> float:
                assert await ws.receive_str(timeout=5) == "2"
                first = loop.time() - started
                await ws.close()
                return first

            return asyncio.create_task(first_ping())

        async def open_polling() -> asyncio.Task[float]:
            started = loop.time()
            sid = (await handshake(polling, gateway))["sid"]
            url = eio_url(gateway, transport="polling", sid=sid)

            async def first_ping() -> float:
                assert (await polling.get(url, timeout=5)).text == "2"
                first = loop.time() - started
                await polling.post(url, content=b"1")
                return first

            return asyncio.create_task(first_ping())

        # Sessions opened one after another over more than two intervals, so they open at
        # every point of the heartbeat's rounds; each is timed from before its handshake.
        sessions: list[asyncio.Task[float]] = []
        first_started = loop.time()
        while loop.time() - first_started < 2.2 * interval and len(sessions) < 200:
            sessions.append(await (open_websocket() if len(sessions) % 2 else open_polling()))
        firsts = await asyncio.gather(*sessions)
        answering.cancel()
        assert len(firsts) >= 8
        assert min(firsts) >= interval, sorted(firsts)[:5]
        # The other client was pinged and kept its session throughout.
        assert answered >= 2
        await other.send_str("4still here")
        assert not other.closed
        await other.close()
