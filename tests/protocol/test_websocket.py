"""RFC 6455 server side: the handshake, server frames, each parsing rule, the close handshake,
and round trips through arbitrary fragmentation and chunking."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wsframes import RFC_MASK, frame
from yellowbox_realtime.errors import (
    GatewayError,
    InvalidUTF8,
    PayloadTooLarge,
    ProtocolError,
    UpgradeRequired,
)
from yellowbox_realtime.protocol import websocket as ws
from yellowbox_realtime.protocol.websocket import (
    BinaryMessage,
    CloseReceived,
    Event,
    Ping,
    Pong,
    ServerConnection,
    State,
    TextMessage,
)


def feed(*chunks: bytes | bytearray | memoryview,
         max_message_bytes: int = 1_000_000) -> ServerConnection:
    conn = ServerConnection(max_message_bytes)
    for chunk in chunks:
        conn.receive_data(chunk)
    return conn


def one_byte_at_a_time(stream: bytes) -> list[bytes]:
    return [stream[i:i + 1] for i in range(len(stream))]


def close_sent(data: bytes) -> tuple[int | None, str]:
    """The code and reason of ``data``, which must be exactly one server close frame."""
    assert data[0] == 0x88, f"expected a close frame, got {data[:8]!r}"
    assert data[1] == len(data) - 2 <= 125  # unmasked, one frame, nothing after it
    if len(data) == 2:
        return None, ""
    return int.from_bytes(data[2:4], "big"), data[4:].decode("utf-8")


def assert_closed(conn: ServerConnection) -> None:
    assert conn.state is State.CLOSED
    assert conn.should_close_transport


def assert_ignores_input(conn: ServerConnection) -> None:
    conn.receive_data(frame(ws.OP_TEXT, b"late") + frame(ws.OP_PING, b"p"))
    assert conn.events_received() == []
    assert conn.data_to_send() == b""


# -- handshake ----------------------------------------------------------------------------

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
UPGRADE = {"host": "example.com", "upgrade": "websocket", "connection": "Upgrade",
           "sec-websocket-version": "13", "sec-websocket-key": RFC_KEY}


def test_accept_key_matches_the_rfc_sample() -> None:
    assert ws.accept_key(RFC_KEY) == RFC_ACCEPT


@pytest.mark.parametrize("change", [
    {},
    {"upgrade": "WebSocket", "connection": "keep-alive, Upgrade"},
    {"connection": "upgrade,keep-alive", "sec-websocket-key": f" {RFC_KEY} "},
])
def test_check_upgrade_accepts_a_valid_request(change: dict[str, str]) -> None:
    assert ws.check_upgrade("GET", {**UPGRADE, **change}) == RFC_ACCEPT


@pytest.mark.parametrize(("method", "change", "message"), [
    ("POST", {}, "must use GET"),
    ("get", {}, "must use GET"),
    ("GET", {"upgrade": ""}, "Upgrade: websocket"),
    ("GET", {"upgrade": "h2c"}, "Upgrade: websocket"),
    ("GET", {"connection": ""}, "Connection: Upgrade"),
    ("GET", {"connection": "keep-alive"}, "Connection: Upgrade"),
    ("GET", {"connection": "upgraded"}, "Connection: Upgrade"),
    ("GET", {"sec-websocket-version": ""}, "version 13 is required"),
    ("GET", {"sec-websocket-version": "8"}, "version 13 is required"),
    ("GET", {"sec-websocket-key": ""}, "16 bytes"),
    ("GET", {"sec-websocket-key": "!!not base64!!!!!!!!!!!!"}, "16 bytes"),
    ("GET", {"sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ"}, "16 bytes"),  # no padding
    ("GET", {"sec-websocket-key": "c2hvcnQ="}, "16 bytes"),
    ("GET", {"sec-websocket-key": "dGhlIHNhbXBsZSBub25jZSEh"}, "16 bytes"),  # 18 bytes
    ("GET", {"sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=é"}, "16 bytes"),
])
def test_check_upgrade_rejects_a_bad_request(method: str, change: dict[str, str],
                                             message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        ws.check_upgrade(method, {**UPGRADE, **change})


@pytest.mark.parametrize("missing", ["upgrade", "connection", "sec-websocket-version",
                                     "sec-websocket-key"])
def test_check_upgrade_rejects_a_missing_header(missing: str) -> None:
    headers = {name: value for name, value in UPGRADE.items() if name != missing}
    with pytest.raises(ProtocolError):
        ws.check_upgrade("GET", headers)


def test_upgrade_response() -> None:
    assert ws.upgrade_response(RFC_ACCEPT, [("X-Request-Id", "42")]) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Request-Id: 42\r\n\r\n")


@pytest.mark.parametrize("header", [("X-Evil", "a\r\nSet-Cookie: x"), ("X\nY", "1"),
                                    ("", "1"), ("X:Y", "1")])
def test_upgrade_response_refuses_header_injection(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid response header"):
        ws.upgrade_response(RFC_ACCEPT, [header])


# -- server frames ------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "header"), [
    (0, b"\x81\x00"),
    (125, b"\x81\x7d"),
    (126, b"\x81\x7e\x00\x7e"),
    (65535, b"\x81\x7e\xff\xff"),
    (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
])
def test_encode_frame_uses_the_minimal_length_encoding(size: int, header: bytes) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert ws.encode_frame(ws.OP_TEXT, payload) == header + payload
    assert ws.text_frame(payload) == header + payload
    assert ws.binary_frame(payload) == bytes((0x82,)) + header[1:] + payload


def test_encode_frame_without_fin_and_control_frames() -> None:
    assert ws.encode_frame(ws.OP_BINARY, b"ab", fin=False) == b"\x02\x02ab"
    assert ws.encode_frame(ws.OP_CONTINUATION, b"c") == b"\x80\x01c"
    assert ws.encode_frame(ws.OP_PING, b"x" * 125)[:2] == b"\x89\x7d"


@pytest.mark.parametrize(("opcode", "payload", "fin"), [
    (ws.OP_PING, b"x" * 126, True), (ws.OP_CLOSE, b"", False), (0x10, b"", True),
])
def test_encode_frame_refuses_what_the_rfc_forbids(opcode: int, payload: bytes,
                                                   fin: bool) -> None:
    with pytest.raises(ValueError, match=r"opcode|control frames"):
        ws.encode_frame(opcode, payload, fin)


def test_close_frame() -> None:
    assert ws.close_frame() == b"\x88\x02\x03\xe8"
    assert ws.close_frame(None) == b"\x88\x00"
    assert ws.close_frame(4401, "bad token") == b"\x88\x0b\x11\x31bad token"


@pytest.mark.parametrize(("reason", "kept"), [
    ("a" * 200, "a" * 123),
    ("é" * 100, "é" * 61),  # 122 bytes: a 62nd "é" would be split
    ("a" + "€" * 50, "a" + "€" * 40),
    ("😀" * 40, "😀" * 30),
])
def test_close_frame_cuts_a_long_reason_at_a_character_boundary(reason: str,
                                                                kept: str) -> None:
    data = ws.close_frame(1011, reason)
    assert close_sent(data) == (1011, kept)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_close_frame_refuses_codes_that_must_not_be_sent(code: int) -> None:
    with pytest.raises(ValueError, match="must not be sent"):
        ws.close_frame(code)


# -- valid traffic ------------------------------------------------------------------------

def test_text_binary_and_empty_messages() -> None:
    conn = feed(frame(ws.OP_TEXT, "héllo 🚕".encode()) + frame(ws.OP_BINARY, b"\x00\xff")
                + frame(ws.OP_TEXT) + frame(ws.OP_BINARY))
    assert conn.events_received() == [TextMessage("héllo 🚕"), BinaryMessage(b"\x00\xff"),
                                      TextMessage(""), BinaryMessage(b"")]
    assert conn.events_received() == []
    assert conn.data_to_send() == b""
    assert conn.state is State.OPEN
    assert str(conn.state) == "open"
    assert not conn.should_close_transport
    assert conn.failure is None


def test_single_small_frames_one_per_read() -> None:
    conn = ServerConnection()
    for text in ["a", "b" * 125, "ç"]:
        conn.receive_data(frame(ws.OP_TEXT, text.encode()))
        assert conn.events_received() == [TextMessage(text)]


def test_rfc_example_frame() -> None:
    # RFC 6455 5.7: a single-frame masked text message containing "Hello".
    assert feed(bytes.fromhex("818537fa213d7f9f4d5158")).events_received() == [
        TextMessage("Hello")]


@pytest.mark.parametrize("size", [126, 1023, 1024, 1025, 65535, 65536, 300_001])
@pytest.mark.parametrize("opcode", [ws.OP_TEXT, ws.OP_BINARY])
def test_16_and_64_bit_lengths(size: int, opcode: int) -> None:
    payload = (b"Yellow Box " * (size // 11 + 1))[:size]
    expected = TextMessage(payload.decode()) if opcode == ws.OP_TEXT else BinaryMessage(payload)
    stream = frame(opcode, payload, mask=b"\x01\x80\xfe\x7f")
    assert feed(stream).events_received() == [expected]
    assert feed(*[stream[i:i + 4096] for i in range(0, len(stream), 4096)]
                ).events_received() == [expected]


def test_fragmented_text_split_inside_characters_with_a_ping_between() -> None:
    text = "مرحبا 🚕".encode()
    conn = feed(frame(ws.OP_TEXT, text[:1], fin=False)  # half of a two-byte letter
                + frame(ws.OP_PING, b"hb")
                + frame(ws.OP_CONTINUATION, text[1:-2], fin=False)  # half of the emoji
                + frame(ws.OP_CONTINUATION, b"", fin=False)
                + frame(ws.OP_CONTINUATION, text[-2:]))
    assert conn.events_received() == [Ping(b"hb"), TextMessage(text.decode())]
    assert conn.data_to_send() == b"\x8a\x02hb"  # the pong carries the ping's payload


def test_fragmented_binary_with_a_pong_between() -> None:
    conn = feed(frame(ws.OP_BINARY, b"ab", fin=False), frame(ws.OP_PONG, b"x"),
                frame(ws.OP_CONTINUATION, b"cd", fin=False), frame(ws.OP_CONTINUATION, b"e"))
    assert conn.events_received() == [Pong(b"x"), BinaryMessage(b"abcde")]
    assert conn.data_to_send() == b""  # pongs are not answered


def test_pings_not_yet_answered_get_one_pong_for_the_latest() -> None:
    # RFC 6455 5.5.3: a flood of pings in one read must not become a flood of pongs.
    conn = feed(frame(ws.OP_PING), frame(ws.OP_PING, b"z" * 125))
    assert conn.events_received() == [Ping(b""), Ping(b"z" * 125)]
    assert conn.data_to_send() == b"\x8a\x7d" + b"z" * 125
    conn.receive_data(frame(ws.OP_PING, b"next"))
    assert conn.data_to_send() == b"\x8a\x04next"


def test_limits_are_inclusive_and_control_frames_do_not_count_toward_a_message() -> None:
    conn = feed(frame(ws.OP_BINARY, b"x" * 10), frame(ws.OP_TEXT, b"y" * 5, fin=False),
                frame(ws.OP_PING, b"p" * 10), frame(ws.OP_CONTINUATION, b"z" * 5),
                max_message_bytes=10)
    assert conn.events_received() == [BinaryMessage(b"x" * 10), Ping(b"p" * 10),
                                      TextMessage("yyyyyzzzzz")]
    assert conn.failure is None


def test_bytes_like_input_is_accepted() -> None:
    stream = frame(ws.OP_TEXT, b"hi")
    conn = feed(bytearray(stream[:3]), memoryview(stream)[3:])
    assert conn.events_received() == [TextMessage("hi")]


# -- closing handshake --------------------------------------------------------------------

@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                                  1013, 1014, 3000, 4000, 4999])
def test_client_close_is_echoed(code: int) -> None:
    conn = feed(frame(ws.OP_CLOSE, struct.pack("!H", code) + "au revoir é".encode()))
    assert conn.events_received() == [CloseReceived(code, "au revoir é")]
    assert conn.data_to_send() == ws.close_frame(code)  # the code echoed, no reason
    assert_closed(conn)
    assert (conn.close_code, conn.close_reason) == (code, "au revoir é")
    assert conn.failure is None
    assert_ignores_input(conn)


def test_client_close_without_a_code_is_answered_with_an_empty_close() -> None:
    conn = feed(frame(ws.OP_CLOSE))
    assert conn.events_received() == [CloseReceived(None, "")]
    assert conn.data_to_send() == b"\x88\x00"
    assert_closed(conn)
    assert conn.close_code is None


def test_everything_after_a_client_close_is_ignored() -> None:
    conn = feed(frame(ws.OP_TEXT, b"a") + frame(ws.OP_CLOSE, b"\x03\xe8")
                + frame(ws.OP_TEXT, b"b") + b"\x00garbage")
    assert conn.events_received() == [TextMessage("a"), CloseReceived(1000, "")]
    assert conn.data_to_send() == b"\x88\x02\x03\xe8"
    assert conn.failure is None
    assert_ignores_input(conn)


def test_a_close_abandons_a_fragmented_message() -> None:
    conn = feed(frame(ws.OP_TEXT, b"part", fin=False), frame(ws.OP_CLOSE, b"\x03\xe9"))
    assert conn.events_received() == [CloseReceived(1001, "")]
    assert_closed(conn)


def test_server_initiated_close_completes_when_the_client_answers() -> None:
    conn = ServerConnection()
    conn.receive_data(frame(ws.OP_TEXT, b"half", fin=False))
    conn.send_close(1001, "going away")
    conn.send_close(1000)  # once is enough
    assert close_sent(conn.data_to_send()) == (1001, "going away")
    assert conn.state is State.CLOSING
    assert not conn.should_close_transport
    # Until the client's close, frames are still parsed but messages and pings are dropped.
    conn.receive_data(frame(ws.OP_CONTINUATION, b"late") + frame(ws.OP_PING, b"p")
                      + frame(ws.OP_BINARY, b"late"))
    assert conn.events_received() == [Ping(b"p")]
    assert conn.data_to_send() == b""  # no pong after our close
    conn.receive_data(frame(ws.OP_CLOSE, b"\x03\xe9"))
    assert conn.events_received() == [CloseReceived(1001, "")]
    assert conn.data_to_send() == b""  # no second close frame
    assert_closed(conn)
    assert (conn.close_code, conn.close_reason) == (1001, "going away")
    conn.send_close()
    assert conn.data_to_send() == b""


def test_a_violation_while_closing_closes_without_a_second_close_frame() -> None:
    conn = ServerConnection()
    conn.send_close()
    conn.data_to_send()
    conn.receive_data(frame(ws.OP_TEXT, b"x", masked=False))
    assert isinstance(conn.failure, ProtocolError)
    assert conn.data_to_send() == b""
    assert_closed(conn)
    assert conn.close_code == 1000


def test_send_close_cuts_a_long_reason() -> None:
    conn = ServerConnection()
    conn.send_close(4000, "x" * 300)
    assert close_sent(conn.data_to_send()) == (4000, "x" * 123)
    assert conn.close_reason == "x" * 123


# -- violations ---------------------------------------------------------------------------

H = struct.pack  # short, for the hand-made headers below
TEXT_STARTED = frame(ws.OP_TEXT, b"a", fin=False)

VIOLATIONS: list[tuple[str, bytes, type[GatewayError], str]] = [
    ("unmasked", frame(ws.OP_TEXT, b"hi", masked=False), ProtocolError, "masked"),
    ("unmasked close", frame(ws.OP_CLOSE, b"", masked=False), ProtocolError, "masked"),
    ("rsv1", frame(ws.OP_TEXT, b"hi", rsv=4), ProtocolError, "reserved bits"),
    ("rsv2", frame(ws.OP_TEXT, b"hi", rsv=2), ProtocolError, "reserved bits"),
    ("rsv3", frame(ws.OP_BINARY, b"hi", rsv=1), ProtocolError, "reserved bits"),
    *[(f"opcode {op:#x}", frame(op, b"hi"), ProtocolError, "unknown opcode")
      for op in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)],
    ("ping too long", frame(ws.OP_PING, b"x" * 126), ProtocolError, "125 bytes"),
    ("pong too long", frame(ws.OP_PONG, b"x" * 126), ProtocolError, "125 bytes"),
    ("close too long", frame(ws.OP_CLOSE, b"\x03\xe8" + b"x" * 124), ProtocolError,
     "125 bytes"),
    ("fragmented ping", frame(ws.OP_PING, b"x", fin=False), ProtocolError, "fragmented"),
    ("fragmented pong", frame(ws.OP_PONG, b"x", fin=False), ProtocolError, "fragmented"),
    ("fragmented close", frame(ws.OP_CLOSE, b"", fin=False), ProtocolError, "fragmented"),
    ("lone continuation", frame(ws.OP_CONTINUATION, b"x"), ProtocolError, "without a message"),
    ("continuation after a whole message",
     frame(ws.OP_TEXT, b"a") + frame(ws.OP_CONTINUATION, b"b"), ProtocolError,
     "without a message"),
    ("text inside a message", TEXT_STARTED + frame(ws.OP_TEXT, b"b"), ProtocolError,
     "before the fragmented one ended"),
    ("binary inside a message", TEXT_STARTED + frame(ws.OP_BINARY, b"b"), ProtocolError,
     "before the fragmented one ended"),
    ("16-bit length for 0", frame(ws.OP_TEXT, b"", length_field=16), ProtocolError,
     "minimally"),
    ("16-bit length for 125", frame(ws.OP_TEXT, b"x" * 125, length_field=16), ProtocolError,
     "minimally"),
    ("64-bit length for 126", frame(ws.OP_BINARY, b"x" * 126, length_field=64), ProtocolError,
     "minimally"),
    ("64-bit length for 65535", frame(ws.OP_BINARY, b"x" * 65535, length_field=64),
     ProtocolError, "minimally"),
    ("64-bit length with the top bit", b"\x82\xff" + H("!Q", 1 << 63 | 5) + RFC_MASK,
     ProtocolError, "most significant bit"),
    ("invalid UTF-8", frame(ws.OP_TEXT, b"ok\xff"), InvalidUTF8, "UTF-8"),
    ("surrogate in UTF-8", frame(ws.OP_TEXT, b"\xed\xa0\x80"), InvalidUTF8, "UTF-8"),
    ("overlong UTF-8", frame(ws.OP_TEXT, b"\xc0\xaf"), InvalidUTF8, "UTF-8"),
    ("incomplete UTF-8 at the end", frame(ws.OP_TEXT, "é".encode()[:1]), InvalidUTF8, "UTF-8"),
    ("incomplete UTF-8 at the end of the last fragment",
     frame(ws.OP_TEXT, b"ok\xe2\x82", fin=False) + frame(ws.OP_CONTINUATION), InvalidUTF8,
     "UTF-8"),
    ("one-byte close payload", frame(ws.OP_CLOSE, b"\x03"), ProtocolError, "one-byte"),
    *[(f"close code {code}", frame(ws.OP_CLOSE, H("!H", code)), ProtocolError,
       f"invalid close code {code}")
      for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535)],
    ("close reason not UTF-8", frame(ws.OP_CLOSE, b"\x03\xe8bad\xc3"), InvalidUTF8,
     "close reason"),
    ("frame over the limit", frame(ws.OP_BINARY, b"x" * 101), PayloadTooLarge, "limit"),
    ("text frame over the limit", frame(ws.OP_TEXT, b"x" * 126), PayloadTooLarge, "limit"),
    ("message over the limit",
     frame(ws.OP_BINARY, b"x" * 60, fin=False) + frame(ws.OP_CONTINUATION, b"x" * 41),
     PayloadTooLarge, "limit"),
]


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "byte-by-byte"])
@pytest.mark.parametrize(("stream", "error", "message"),
                         [case[1:] for case in VIOLATIONS], ids=[case[0] for case in VIOLATIONS])
def test_a_violation_fails_the_connection_with_the_right_code(
        stream: bytes, error: type[GatewayError], message: str, whole: bool) -> None:
    conn = feed(*([stream] if whole else one_byte_at_a_time(stream)), max_message_bytes=100)
    assert type(conn.failure) is error
    assert message in conn.failure.message
    code, reason = close_sent(conn.data_to_send())
    assert code == error.close_code == conn.close_code
    assert reason == conn.failure.message == conn.close_reason
    assert_closed(conn)
    assert conn.events_received() in ([], [TextMessage("a")])
    assert_ignores_input(conn)


def test_the_close_codes_are_those_of_the_error_hierarchy() -> None:
    assert (ProtocolError.close_code, InvalidUTF8.close_code,
            PayloadTooLarge.close_code) == (1002, 1007, 1009)


@pytest.mark.parametrize("header", [
    b"\x82\xfe" + H("!H", 1001),
    b"\x82\xff" + H("!Q", 10**9),
    b"\x82\xff" + H("!Q", (1 << 63) - 1),
])
def test_an_oversized_frame_is_refused_from_its_header_alone(header: bytes) -> None:
    conn = feed(header, max_message_bytes=1000)  # not even the mask has arrived
    assert isinstance(conn.failure, PayloadTooLarge)
    assert close_sent(conn.data_to_send())[0] == 1009
    assert_closed(conn)


def test_an_oversized_message_is_refused_at_the_header_of_the_fragment_that_overflows() -> None:
    conn = feed(frame(ws.OP_BINARY, b"x" * 600, fin=False),
                frame(ws.OP_CONTINUATION, b"x" * 401)[:4], max_message_bytes=1000)
    assert isinstance(conn.failure, PayloadTooLarge)
    assert close_sent(conn.data_to_send())[0] == 1009
    assert conn.events_received() == []


@pytest.mark.parametrize("fragment", [
    b"\xc3\x28", b"\xc0", b"\xf5", b"\xe0\x80", b"\xf0\x80", b"\xf4\x90", b"\xed\xa0",
    b"\xed\xbf", b"ok\xff", b"\xe2\x82\x28",
])
def test_invalid_utf8_fails_at_the_first_fragment_where_it_is_certain(fragment: bytes) -> None:
    conn = feed(frame(ws.OP_TEXT, fragment, fin=False))  # the message has not ended
    assert isinstance(conn.failure, InvalidUTF8)
    assert close_sent(conn.data_to_send())[0] == 1007
    assert_closed(conn)


@pytest.mark.parametrize("char", ["é", "\u0800", "€", "\ud7ff", "\ue000", "\U00010000",
                                  "\U0010ffff"])
def test_a_character_cut_by_a_fragment_is_not_a_failure(char: str) -> None:
    encoded = char.encode()
    for cut in range(1, len(encoded)):
        conn = feed(frame(ws.OP_TEXT, encoded[:cut], fin=False))
        assert conn.failure is None, cut
        conn.receive_data(frame(ws.OP_CONTINUATION, encoded[cut:]))
        assert conn.events_received() == [TextMessage(char)]


def test_messages_before_a_violation_are_delivered() -> None:
    conn = feed(frame(ws.OP_TEXT, b"first") + frame(ws.OP_PING, b"p")
                + frame(ws.OP_TEXT, b"x", masked=False))
    assert conn.events_received() == [TextMessage("first"), Ping(b"p")]
    pong = b"\x8a\x01p"
    data = conn.data_to_send()
    assert data.startswith(pong)
    assert close_sent(data[len(pong):])[0] == 1002


# -- any split, any fragmentation ---------------------------------------------------------

def test_every_split_of_the_stream_gives_the_same_events_and_replies() -> None:
    stream = (frame(ws.OP_TEXT, "ab€".encode()[:3], fin=False)
              + frame(ws.OP_PING, b"p")
              + frame(ws.OP_CONTINUATION, "ab€".encode()[3:])
              + frame(ws.OP_BINARY, bytes(range(200)))
              + frame(ws.OP_TEXT, b"small")
              + frame(ws.OP_BINARY, bytes(1100), mask=b"\xff\x00\xaa\x55")
              + frame(ws.OP_PONG)
              + frame(ws.OP_CLOSE, b"\x0f\xa0bye"))
    expected = [Ping(b"p"), TextMessage("ab€"), BinaryMessage(bytes(range(200))),
                TextMessage("small"), BinaryMessage(bytes(1100)), Pong(b""),
                CloseReceived(4000, "bye")]
    replies = b"\x8a\x01p" + ws.close_frame(4000)
    for cut in range(len(stream) + 1):
        conn = ServerConnection()
        conn.receive_data(stream[:cut])
        events = conn.events_received()
        conn.receive_data(stream[cut:])
        assert events + conn.events_received() == expected, cut
        assert conn.data_to_send() == replies, cut
        assert_closed(conn)
    conn = feed(*one_byte_at_a_time(stream))
    assert conn.events_received() == expected
    assert conn.data_to_send() == replies


messages = st.lists(st.one_of(st.text(max_size=400), st.binary(max_size=2100)), max_size=6)


@given(messages=messages, data=st.data())
def test_any_fragmentation_and_chunking_decodes_to_the_same_messages(
        messages: list[str | bytes], data: st.DataObject) -> None:
    stream = bytearray()
    expected: list[Event] = []
    pongs = bytearray()
    for message in messages:
        raw = message.encode() if isinstance(message, str) else message
        opcode = ws.OP_TEXT if isinstance(message, str) else ws.OP_BINARY
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=4)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        for i, piece in enumerate(pieces):
            if i and data.draw(st.booleans()):  # a ping between two fragments
                ping = data.draw(st.binary(max_size=125))
                stream += frame(ws.OP_PING, ping, mask=data.draw(st.binary(min_size=4,
                                                                           max_size=4)))
                expected.append(Ping(ping))
                # Read once at the end: only the latest ping is answered.
                pongs = bytearray(ws.encode_frame(ws.OP_PONG, ping))
            stream += frame(opcode if i == 0 else ws.OP_CONTINUATION, piece,
                            fin=i == len(pieces) - 1,
                            mask=data.draw(st.binary(min_size=4, max_size=4)))
        expected.append(TextMessage(message) if isinstance(message, str)
                        else BinaryMessage(message))
    sizes = data.draw(st.lists(st.integers(1, 3000), max_size=20))
    conn = ServerConnection()
    start = 0
    for size in sizes:
        conn.receive_data(bytes(stream[start:start + size]))
        start += size
    conn.receive_data(bytes(stream[start:]))
    assert conn.events_received() == expected
    assert conn.data_to_send() == pongs
    assert conn.failure is None
    assert conn.state is State.OPEN


@given(chunks=st.lists(st.binary(max_size=40), max_size=10))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    conn = ServerConnection(max_message_bytes=64)
    for chunk in chunks:
        conn.receive_data(chunk)
    failure = conn.failure
    if failure is not None:  # whatever came before it (pongs), the close frame comes last
        assert conn.data_to_send().endswith(ws.close_frame(failure.close_code, failure.message))
        assert_closed(conn)


def test_a_wrong_version_is_an_upgrade_required_error() -> None:
    with pytest.raises(UpgradeRequired) as info:
        ws.check_upgrade("GET", {"upgrade": "websocket", "connection": "Upgrade",
                                 "sec-websocket-version": "8",
                                 "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert info.value.http_status == 426
