"""Cases the fuzzers found, kept as plain tests."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import MakeToken
from tests.fuzz.test_memory import UPGRADE
from tests.wsframes import frame, server_frames
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.protocol.websocket import OP_TEXT


async def test_frames_sent_behind_the_upgrade_request_reach_the_new_session(
        gateway: Gateway, make_token: MakeToken) -> None:
    # Found by tests/fuzz/test_memory.py: a client that does not wait for the 101 had its
    # first frames read before the session was open (an AssertionError logged as an
    # unhandled error, the session left half made). Now they are read by the open session.
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    token = make_token("ops-1", "operations")
    writer.write(UPGRADE + frame(OP_TEXT, b"40" + json.dumps({"token": token}).encode()))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 ")
    data = b""
    while b'40{"sid"' not in data:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, f"closed after {data!r}"
        data += chunk
    texts = [payload.decode() for _, payload in server_frames(data)]
    assert texts[0].startswith("0{")  # the open packet still comes first
    assert texts[1].startswith('40{"sid"')
    assert gateway.stats()["sockets"]["/"] == 1
    writer.close()
