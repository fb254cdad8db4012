"""RFC 6455 server side: each parsing rule, the close handshake and round trips."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wsframes import client_frame
from yellowbox_realtime.errors import ProtocolError
from yellowbox_realtime.protocol import websocket as ws
from yellowbox_realtime.protocol.websocket import (
    BinaryMessage,
    CloseReceived,
    Ping,
    Pong,
    ServerConnection,
    State,
    TextMessage,
)


def feed(data: bytes, max_message_bytes: int = 1_000_000) -> ServerConnection:
    conn = ServerConnection(max_message_bytes)
    conn.receive_data(data)
    return conn


def sent_close_code(conn: ServerConnection) -> int | None:
    data = conn.data_to_send()
    assert data[0] == 0x88, f"expected a close frame, got {data[:4]!r}"
    return int.from_bytes(data[2:4], "big") if data[1] >= 2 else None


def test_accept_key_matches_the_rfc_example() -> None:
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


GOOD_UPGRADE = {"upgrade": "websocket", "connection": "keep-alive, Upgrade",
                "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_check_upgrade_accepts_a_valid_request() -> None:
    assert ws.check_upgrade("GET", GOOD_UPGRADE) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    response = ws.upgrade_response("abc")
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: abc\r\n" in response
    assert response.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("method", "change", "message"),
    [
        ("POST", {}, "must use GET"),
        ("GET", {"upgrade": "h2c"}, "Upgrade: websocket"),
        ("GET", {"connection": "keep-alive"}, "Connection: Upgrade"),
        ("GET", {"sec-websocket-version": "8"}, "version 13 is required"),
        ("GET", {"sec-websocket-key": "c2hvcnQ="}, "16 bytes"),
        ("GET", {"sec-websocket-key": "!!not base64!!"}, "16 bytes"),
    ],
)
def test_check_upgrade_rejects_bad_requests(method: str, change: dict[str, str],
                                            message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        ws.check_upgrade(method, {**GOOD_UPGRADE, **change})


@pytest.mark.parametrize(("size", "header"), [(0, 2), (125, 2), (126, 4), (65535, 4),
                                              (65536, 10)])
def test_server_frames_use_minimal_length_encodings(size: int, header: int) -> None:
    frame = ws.text_frame(b"x" * size)
    assert len(frame) == size + header
    assert frame[0] == 0x81
    assert not frame[1] & 0x80


def test_close_frame_reason_is_cut_at_a_character_boundary() -> None:
    frame = ws.close_frame(1008, "é" * 100)
    assert len(frame) - 2 <= 125
    frame[4:].decode("utf-8")
    assert ws.close_frame(None) == b"\x88\x00"


# -- valid traffic ------------------------------------------------------------------------

def test_text_binary_and_empty_messages() -> None:
    conn = feed(client_frame(ws.OP_TEXT, "héllo".encode()) + client_frame(ws.OP_BINARY, b"\x00\xff")
                + client_frame(ws.OP_TEXT) + client_frame(ws.OP_BINARY))
    assert conn.events_received() == [TextMessage("héllo"), BinaryMessage(b"\x00\xff"),
                                      TextMessage(""), BinaryMessage(b"")]
    assert conn.data_to_send() == b""
    assert conn.state is State.OPEN


@pytest.mark.parametrize("size", [126, 65535, 65536, 200_000])
def test_extended_lengths(size: int) -> None:
    payload = os.urandom(size)
    assert feed(client_frame(ws.OP_BINARY, payload)).events_received() == [
        BinaryMessage(payload)]


def test_fragmented_text_split_inside_a_character_with_a_ping_between() -> None:
    text = "مرحبا يلو بوكس".encode()
    conn = feed(client_frame(ws.OP_TEXT, text[:3], fin=False)
                + client_frame(ws.OP_PING, b"hb")
                + client_frame(ws.OP_CONTINUATION, text[3:9], fin=False)
                + client_frame(ws.OP_CONTINUATION, text[9:]))
    assert conn.events_received() == [Ping(b"hb"), TextMessage(text.decode())]
    assert conn.data_to_send() == b"\x8a\x02hb"  # the pong echoes the ping's payload


def test_pongs_are_reported() -> None:
    assert feed(client_frame(ws.OP_PONG, b"x")).events_received() == [Pong(b"x")]


def test_every_split_of_the_byte_stream_gives_the_same_events() -> None:
    stream = (client_frame(ws.OP_TEXT, "ab€".encode(), fin=False)
              + client_frame(ws.OP_CONTINUATION, b"cd")
              + client_frame(ws.OP_BINARY, b"\x01" * 130)
              + client_frame(ws.OP_PING, b"p"))
    expected = feed(stream).events_received()
    for cut in range(1, len(stream)):
        conn = ServerConnection()
        conn.receive_data(stream[:cut])
        events = conn.events_received()
        conn.receive_data(stream[cut:])
        assert events + conn.events_received() == expected, cut


@given(messages=st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)),
                         max_size=8),
       data=st.data())
def test_fragmented_and_chunked_messages_round_trip(messages: list[str | bytes],
                                                   data: st.DataObject) -> None:
    stream = b""
    for message in messages:
        raw = message.encode() if isinstance(message, str) else message
        opcode = ws.OP_TEXT if isinstance(message, str) else ws.OP_BINARY
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        for i, piece in enumerate(pieces):
            stream += client_frame(opcode if i == 0 else ws.OP_CONTINUATION, piece,
                                   fin=i == len(pieces) - 1)
    chunk = data.draw(st.integers(1, 64))
    conn = ServerConnection()
    for start in range(0, len(stream), chunk):
        conn.receive_data(stream[start:start + chunk])
    expected = [TextMessage(m) if isinstance(m, str) else BinaryMessage(m) for m in messages]
    assert conn.events_received() == expected
    assert conn.failure is None


# -- violations ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("stream", "code", "message"),
    [
        (client_frame(ws.OP_TEXT, b"hi", mask=False), 1002, "must be masked"),
        (client_frame(ws.OP_TEXT, b"hi", rsv=4), 1002, "reserved bits"),
        (client_frame(ws.OP_TEXT, b"hi", rsv=1), 1002, "reserved bits"),
        (client_frame(0x3, b"hi"), 1002, "unknown opcode"),
        (client_frame(0xB, b"hi"), 1002, "unknown opcode"),
        (client_frame(ws.OP_PING, b"x" * 126), 1002, "longer than 125"),
        (client_frame(ws.OP_PING, b"x", fin=False), 1002, "must not be fragmented"),
        (client_frame(ws.OP_CONTINUATION, b"x"), 1002, "without a message"),
        (client_frame(ws.OP_TEXT, b"a", fin=False) + client_frame(ws.OP_BINARY, b"b"), 1002,
         "before the fragmented one ended"),
        (client_frame(ws.OP_TEXT, b"x" * 10, length_form="16"), 1002, "minimally encoded"),
        (client_frame(ws.OP_TEXT, b"x" * 200, length_form="64"), 1002, "minimally encoded"),
        (b"\x82\xff" + struct.pack("!Q", 1 << 63) + b"mask", 1002, "most significant bit"),
        (client_frame(ws.OP_TEXT, b"\xff\xfe"), 1007, "not valid UTF-8"),
        (client_frame(ws.OP_TEXT, "é".encode()[:1]), 1007, "not valid UTF-8"),
        (client_frame(ws.OP_TEXT, b"ok\xc3", fin=False) + client_frame(ws.OP_CONTINUATION),
         1007, "not valid UTF-8"),
        (client_frame(ws.OP_CLOSE, b"\x03"), 1002, "one byte"),
        (client_frame(ws.OP_CLOSE, struct.pack("!H", 1005)), 1002, "invalid close code 1005"),
        (client_frame(ws.OP_CLOSE, struct.pack("!H", 999)), 1002, "invalid close code"),
        (client_frame(ws.OP_CLOSE, struct.pack("!H", 2000)), 1002, "invalid close code"),
        (client_frame(ws.OP_CLOSE, struct.pack("!H", 5000)), 1002, "invalid close code"),
        (client_frame(ws.OP_CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007,
         "close reason is not valid UTF-8"),
    ],
)
def test_violations_close_with_the_right_code(stream: bytes, code: int, message: str) -> None:
    conn = feed(stream)
    assert conn.failure is not None
    assert message in conn.failure.message
    assert sent_close_code(conn) == code
    assert conn.state is State.CLOSED
    assert conn.should_close_transport
    conn.receive_data(client_frame(ws.OP_TEXT, b"ignored"))
    assert not any(isinstance(e, TextMessage) and e.text == "ignored"
                   for e in conn.events_received())


def test_invalid_utf8_fails_at_the_fragment_that_carries_it() -> None:
    conn = feed(client_frame(ws.OP_TEXT, b"\xc3\x28", fin=False))  # certain already
    assert sent_close_code(conn) == 1007


def test_oversized_frame_is_refused_from_its_header_alone() -> None:
    header = b"\x82\xff" + struct.pack("!Q", 10_000_000) + b"mask"  # no payload sent
    conn = feed(header, max_message_bytes=1000)
    assert sent_close_code(conn) == 1009


def test_oversized_fragmented_message_is_refused() -> None:
    conn = feed(client_frame(ws.OP_BINARY, b"x" * 600, fin=False)
                + client_frame(ws.OP_CONTINUATION, b"x" * 600), max_message_bytes=1000)
    assert sent_close_code(conn) == 1009
    assert conn.events_received() == []


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999])
def test_client_close_is_echoed(code: int) -> None:
    conn = feed(client_frame(ws.OP_CLOSE, struct.pack("!H", code) + b"bye"))
    assert conn.events_received() == [CloseReceived(code, "bye")]
    assert sent_close_code(conn) == code
    assert conn.state is State.CLOSED
    assert conn.should_close_transport


def test_empty_close_is_answered_with_an_empty_close() -> None:
    conn = feed(client_frame(ws.OP_CLOSE))
    assert conn.events_received() == [CloseReceived(None, "")]
    assert conn.data_to_send() == b"\x88\x00"


def test_server_initiated_close_completes_when_the_client_answers() -> None:
    conn = ServerConnection()
    conn.send_close(1001, "going away")
    assert sent_close_code(conn) == 1001
    assert conn.state is State.CLOSING
    assert not conn.should_close_transport
    conn.receive_data(client_frame(ws.OP_TEXT, b"late") + client_frame(
        ws.OP_CLOSE, struct.pack("!H", 1001)))
    assert conn.events_received() == [CloseReceived(1001, "")]
    assert conn.data_to_send() == b""  # no second close frame
    assert conn.state.value == "closed"  # (mypy narrowed state to CLOSING above)
    assert conn.should_close_transport
