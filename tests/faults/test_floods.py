"""Floods: a burst of connections, and Engine.IO pings and pongs by the thousand."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import MakeGateway, MakeToken
from tests.faults.rawclient import RawClient, close_code
from tests.limits.support import V4, V6, Listener, dual_stack_gateway, url
from tests.waiting import until
from tests.wsframes import frame
from yellowbox_realtime.protocol.websocket import OP_CLOSE, OP_TEXT

BURST = 5000
PER_IP = 2000
HANDSHAKE = b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"


async def handshake(port: int) -> tuple[int, dict[str, object], asyncio.StreamWriter]:
    """One polling handshake on a connection kept open: (status, body, the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HANDSHAKE)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    status = int(head.split(b" ", 2)[1])
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    body = await asyncio.wait_for(reader.readexactly(length), 30)
    decoded = json.loads(body[1:] if status == 200 else body)
    return status, decoded, writer


async def test_a_burst_of_5000_connects_is_answered_or_refused_with_a_reason(
        make_token: MakeToken) -> None:
    async with dual_stack_gateway(
            # Sessions are the limit under test; each also keeps its TCP connection open.
            limits={"max_connections_per_ip": PER_IP, "max_http_connections_per_ip": 0,
                    "handshakes_per_ip_per_s": 0, "handshake_burst": 0},
            engineio={"connect_timeout_ms": 120_000}) as gateway:
        results: list[tuple[int, dict[str, object], asyncio.StreamWriter]] = []
        port = next(port for host, port in gateway.addresses if host == V4)
        # In batches, all kept open: 10,000 descriptors in this process at the peak.
        for start in range(0, BURST, 500):
            results += await asyncio.gather(*(handshake(port)
                                              for _ in range(start, min(BURST, start + 500))))
        accepted = [body for status, body, _ in results if status == 200]
        refused = [body for status, body, _ in results if status != 200]
        assert len(accepted) == PER_IP
        assert all(body["sid"] for body in accepted)
        assert len(refused) == BURST - PER_IP
        assert {(body["reason"], int(str(body["code"]))) for body in refused} == {
            ("too_many_connections", 4)}
        # The server is up, and a client from another address is served as usual.
        other = await Listener().connect(url(gateway, V6), make_token("ops-1", "operations"))
        await other.still_receives(gateway, "role:operations")
        await other.sio.disconnect()
        for _, _, writer in results:
            writer.close()
        assert gateway.stats()["sessions"] == PER_IP


async def test_a_flood_of_pings_is_refused_with_a_reason_and_others_carry_on(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway()
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    flooder = await RawClient.join(gateway.port, make_token("ops-1", "operations"))
    # In Engine.IO v4 the server pings; a client's ping breaks the protocol.
    flooder.writer.write(frame(OP_TEXT, b"2") * 1000)
    while True:
        opcode, payload = await flooder.next_frame()
        if opcode in (OP_CLOSE, -1):
            break
    assert opcode == OP_CLOSE
    code, reason = close_code(payload)
    assert code == 1002
    assert "unexpected packet type 2" in reason
    assert "the server pings" in reason
    await until(lambda: gateway.stats()["sessions"] == 1)
    await other.still_receives(gateway, "role:operations")
    await other.sio.disconnect()
    await flooder.close()


async def test_a_flood_of_pongs_is_absorbed_and_the_connection_still_works(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway()
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    flooder = await RawClient.join(gateway.port, make_token("ops-1", "operations"))
    flooder.writer.write(frame(OP_TEXT, b"3") * 20_000)
    await flooder.writer.drain()
    gateway.to("user:ops-1").emit("after_the_flood", 1)
    while True:
        opcode, payload = await flooder.next_frame()
        assert opcode == OP_TEXT, (opcode, payload)
        if b"after_the_flood" in payload:
            break
    await other.still_receives(gateway, "role:operations")
    await other.sio.disconnect()
    await flooder.close()
