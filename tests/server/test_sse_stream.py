"""Open SSE streams: heartbeats, unencodable events, and each way a stream ends."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from typing import Any

import pytest

from tests.conftest import MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.config import Config
from yellowbox_realtime.protocol.sse import EventStreamParser

from .ssereader import client, open_stream

HEARTBEAT = re.compile(rb"\n\n:\n\n")


@pytest.fixture
def make_gateway(make_gateway: MakeGateway) -> MakeGateway:
    """Streams on their own: without the Yellow Box operations, no snapshots start the
    streams and nothing else subscribes to their channels."""
    async def make(config: Config | None = None, **kwargs: Any) -> Gateway:
        return await make_gateway(config, yellowbox_events=False, **kwargs)
    return make


async def test_every_stream_gets_heartbeat_comments(make_gateway: MakeGateway,
                                                    make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(sse={"heartbeat_s": 0.05}))
    token = make_token("ops-1", "operations")
    async with client() as http, \
            open_stream(http, f"{gateway.url}/sse/alerts", token=token) as first, \
            open_stream(http, f"{gateway.url}/sse/fleet", token=token) as second:
        for sse in (first, second):
            await sse.until_raw(lambda raw: len(HEARTBEAT.findall(raw)) >= 2)
        # Comments are not events: the only one so far is ready.
        assert [e.event for e in first.pending] == ["ready"]


async def test_an_event_that_cannot_be_json_is_skipped_and_the_stream_goes_on(
        gateway: Gateway, make_token: MakeToken) -> None:
    async with client() as http, open_stream(http, f"{gateway.url}/sse/alerts",
                                             token=make_token("ops-1", "operations")) as sse:
        assert (await sse.next()).event == "ready"
        gateway.to("alerts").emit("binary", b"\x00\x01")
        gateway.to("alerts").emit("alert", {"n": 1})
        event, data = await sse.next_data()
        assert (event.event, data) == ("alert", {"n": 1})
        assert len(gateway.sse.open_streams) == 1


async def test_a_stream_whose_token_expires_is_told_so_and_ends(
        gateway: Gateway, make_token: MakeToken) -> None:
    async with client() as http, open_stream(
            http, f"{gateway.url}/sse/alerts",
            token=make_token("ops-1", "operations", ttl_s=1)) as sse:
        assert (await sse.next()).event == "ready"
        events = await sse.rest()
    assert [e.event for e in events] == ["auth_expired"]
    assert json.loads(events[0].data)["code"] == "token_expired"
    assert gateway.sse.open_streams == set()


async def test_a_ticket_stream_ends_when_the_token_behind_it_expires(
        gateway: Gateway, make_token: MakeToken) -> None:
    token = make_token("ops-1", "operations", ttl_s=1)
    async with client() as http:
        answer = await http.post(f"{gateway.url}/sse/tickets",
                                 headers={"Authorization": f"Bearer {token}"})
        assert answer.json()["expiresIn"] <= 1
        async with open_stream(http, f"{gateway.url}/sse/alerts?ticket="
                               f"{answer.json()['ticket']}") as sse:
            assert (await sse.next()).event == "ready"
            assert [e.event for e in await sse.rest()] == ["auth_expired"]


async def test_at_shutdown_every_stream_is_told_when_to_come_back_and_ends(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway()
    token = make_token("ops-1", "operations")
    async with client() as http, \
            open_stream(http, f"{gateway.url}/sse/alerts", token=token) as first, \
            open_stream(http, f"{gateway.url}/sse/dashboard", token=token) as second:
        for sse in (first, second):
            assert (await sse.next()).event == "ready"
        gateway.to("alerts").emit("alert", {"n": 1})
        assert (await first.next()).event == "alert"
        await gateway.stop()
        base = gateway.config.sse.shutdown_retry_ms
        for sse in (first, second):
            await sse.rest()
            assert sse.ended
            assert sse.parser.retry is not None
            assert sse.raw.endswith(b"\n\nretry: %d\n\n" % sse.parser.retry)
            assert base <= sse.parser.retry < 2 * base


async def test_a_client_that_goes_away_is_unsubscribed(
        gateway: Gateway, make_token: MakeToken) -> None:
    assert gateway.sse.streams is not None
    ended: asyncio.Queue[str] = asyncio.Queue()
    gateway.sse.streams.on_end.append(lambda stream: ended.put_nowait(stream.credentials.uid))
    async with client() as http, open_stream(http, f"{gateway.url}/sse/alerts",
                                             token=make_token("ops-1", "operations")) as sse:
        assert (await sse.next()).event == "ready"
        assert gateway.hub.count("alerts") == 1
    assert await asyncio.wait_for(ended.get(), 10) == "ops-1"
    assert gateway.sse.open_streams == set()
    assert gateway.hub.count("alerts") == 0


async def stalled_stream(port: int, token: str) -> tuple[socket.socket, bytes]:
    """A raw client that opens a stream, reads up to its first event and then stops reading;
    also returns the body read so far."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, (
        f"GET /sse/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode())
    received = b""
    while b"event: ready" not in received:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
        assert chunk, "the server closed the stream at once"
        received += chunk
    return sock, received.split(b"\r\n\r\n", 1)[1]


async def test_a_reader_that_falls_behind_is_cut_off_with_the_reason(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(server={"max_buffer_bytes": 64 * 1024}))
    sock, body = await stalled_stream(gateway.port, make_token("slow", "operations"))
    async with client() as http, open_stream(http, f"{gateway.url}/sse/alerts",
                                             token=make_token("fine", "operations")) as healthy:
        assert (await healthy.next()).event == "ready"
        [slow] = [s for s in gateway.sse.open_streams if s.credentials.uid == "slow"]
        blob = "x" * 8000
        sent = 0
        # Each turn's events leave in one flush; yielding lets them go (or pile up).
        while slow in gateway.sse.open_streams:
            assert sent < 20_000, "the stalled reader was never cut off"
            gateway.to("alerts").emit("flood", {"n": sent, "blob": blob})
            sent += 1
            await asyncio.sleep(0)
        gateway.to("alerts").emit("done", {"sent": sent})
        # The healthy reader keeps everything, in order.
        for n in range(sent):
            assert (await healthy.next_data())[1]["n"] == n
        assert (await healthy.next()).event == "done"

    loop = asyncio.get_running_loop()
    data = body
    while chunk := await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), 10):
        data += chunk
    sock.close()
    events = EventStreamParser(max_event_chars=1 << 24).feed(data)
    last = events[-1]
    assert last.event == "gateway_error"
    assert json.loads(last.data) | {"message": ""} == {
        "event": None, "code": "slow_consumer", "message": ""}
    # What was queued for it was dropped: it did not get every flood event.
    assert sum(e.event == "flood" for e in events) < sent
