"""The load generator's counting clients count every event and answer every ping, wherever
the chunks they read happen to split the stream."""

from __future__ import annotations

import itertools

from bench.client import SioClient
from bench.wire import EIO_PING_FRAME, PONG
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.protocol.websocket import text_frame

# What a server sends: unmasked frames.
EVENT = text_frame(b'42["rider_location_update",{"latitude":10.00001}]')
OTHER = text_frame(b'42["something_else",{"x":"rider_location_updat"}]')


class Transport:
    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data


@given(frames=st.lists(st.sampled_from([EVENT, EIO_PING_FRAME, OTHER]), max_size=40),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
async def test_counting_finds_every_event_and_ping_across_any_split(
        frames: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frames)
    client = SioClient(("127.0.0.1", 1), {}, parse=False)
    transport = Transport()
    client.transport = transport  # type: ignore[assignment]
    client._state = 2  # joined: counting mode
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    for start, end in itertools.pairwise(bounds):
        client.data_received(stream[start:end])
    assert client.count == frames.count(EVENT)
    assert client.pongs == frames.count(EIO_PING_FRAME)
    assert transport.written == PONG * client.pongs
