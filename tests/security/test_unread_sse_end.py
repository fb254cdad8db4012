"""A connection the gateway ends while its client is not reading (an SSE stream whose token
expires) keeps what it had to send for at most the linger period
(server.slow_consumer_linger_s, with no progress), then is aborted; a graceful close would
hold it, and its bytes, forever."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.security.support import close, server_side_open, unread_connection
from tests.waiting import until
from yellowbox_realtime.server.output import OutputBuffer
from yellowbox_realtime.server.sse_stream import control_event

LINGER_S = 0.3
EVENT = "x" * 10_000


async def fill(buffer: OutputBuffer, publish: Callable[[], None]) -> None:
    """Send until the kernel takes no more and bytes wait in the transport (the kernel's
    buffers on loopback grow to megabytes), in batches below max_buffer_bytes."""
    for _ in range(40):
        for _ in range(50):
            publish()
        await until(lambda: buffer.pending == 0 or buffer.transport.get_write_buffer_size() > 0)
        if buffer.transport.get_write_buffer_size():
            return
    raise AssertionError("the kernel took 20 MB")


async def test_an_sse_stream_ended_unread_is_aborted_after_the_linger(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(server={"slow_consumer_linger_s": LINGER_S}))
    _, writer = await unread_connection(gateway.port)
    token = make_token("ops-1", "operations", ttl_s=3)
    writer.write(f"GET /sse/dashboard HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n".encode())
    await until(lambda: bool(gateway.sse.open_streams))
    stream = next(iter(gateway.sse.open_streams))
    await fill(stream, lambda: stream.append(control_event("tick", EVENT)))
    # The token expires: the stream ends with auth_expired, which is never read.
    await until(lambda: not gateway.sse.open_streams)
    async with httpx.AsyncClient() as other:
        assert (await other.get(f"{gateway.url}/healthz")).status_code == 200
    await until(lambda: not server_side_open(writer))
    assert gateway.held_bytes()["unsent"] == 0
    await close(writer)

