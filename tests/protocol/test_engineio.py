from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.errors import InvalidUTF8, PayloadTooLarge, ProtocolError
from yellowbox_realtime.protocol.engineio import (
    Packet,
    PacketType,
    decode_binary,
    decode_payload,
    decode_text,
    encode_payload,
    encode_text,
    message,
    open_packet,
    polling_binary,
    polling_binary_data,
    polling_packet,
)

T = PacketType


@pytest.mark.parametrize(
    ("text", "packet"),
    [
        ("0", Packet(T.OPEN)),
        ("1", Packet(T.CLOSE)),
        ("2probe", Packet(T.PING, "probe")),
        ("3", Packet(T.PONG)),
        ("3probe", Packet(T.PONG, "probe")),
        ("4hello", Packet(T.MESSAGE, "hello")),
        ("4€€€", Packet(T.MESSAGE, "€€€")),
        ('42["hey","Jude"]', Packet(T.MESSAGE, '2["hey","Jude"]')),
        ("5", Packet(T.UPGRADE)),
        ("6", Packet(T.NOOP)),
    ],
)
def test_text_packets(text: str, packet: Packet) -> None:
    assert decode_text(text) == packet
    assert encode_text(packet) == text
    assert polling_packet(packet) == text.encode()


def test_base64_text_frame_is_a_binary_message() -> None:
    # Clients with forceBase64 send binary this way even over WebSocket.
    assert decode_text("bAQID") == Packet(T.MESSAGE, b"\x01\x02\x03")
    assert decode_text("b") == Packet(T.MESSAGE, b"")


def test_binary_frame_is_a_message_without_type_byte() -> None:
    assert decode_binary(b"\x01\x02\x03") == Packet(T.MESSAGE, b"\x01\x02\x03")
    assert decode_binary(b"") == Packet(T.MESSAGE, b"")
    packet = decode_binary(bytearray(b"\x04"))
    assert type(packet.data) is bytes


def test_binary_polling_form() -> None:
    assert polling_packet(Packet(T.MESSAGE, b"\x01\x02\x03")) == b"bAQID"


def test_encode_text_refuses_binary() -> None:
    with pytest.raises(TypeError, match="binary"):
        encode_text(Packet(T.MESSAGE, b"\x01"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty Engine.IO packet"),
        ("7", "unknown Engine.IO packet type '7'"),
        ("x4", "unknown Engine.IO packet type 'x'"),
        ("b!!!!", "not valid base64"),
        ("bAQI", "not valid base64"),  # bad padding
    ],
)
def test_decode_text_rejects(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_text(text)


def test_spec_payload_examples() -> None:
    assert encode_payload([b"4hello", "4€€€".encode()]) == "4hello\x1e4€€€".encode()
    body = encode_payload([polling_packet(Packet(T.MESSAGE, "hello")),
                           polling_packet(Packet(T.MESSAGE, b"\x01\x02\x03"))])
    assert body == b"4hello\x1ebAQID"
    assert decode_payload(body, 100) == [Packet(T.MESSAGE, "hello"),
                                         Packet(T.MESSAGE, b"\x01\x02\x03")]
    assert decode_payload(b'42["hello"]\x1e42["world"]', 100) == [
        Packet(T.MESSAGE, '2["hello"]'), Packet(T.MESSAGE, '2["world"]')]
    assert decode_payload(b"1", 100) == [Packet(T.CLOSE)]


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b"", ProtocolError, "empty polling body"),
        (b"4\xff", InvalidUTF8, "not valid UTF-8 at byte 1"),
        (b"4a\x1e9b", ProtocolError, "packet 2 of 2 in polling body: unknown .* type '9'"),
        (b"4a\x1eb@@", ProtocolError, "packet 2 of 2 .*base64"),
        (b"4a\x1e\x1e4b", ProtocolError, "packet 2 of 3 .*empty"),
        (b"4a\x1e", ProtocolError, "packet 2 of 2 .*empty"),
        (b"\x1e4a", ProtocolError, "packet 1 of 2 .*empty"),
        (b"4" + b"x" * 100, PayloadTooLarge, "101 bytes exceeds 100"),
    ],
)
def test_decode_payload_rejects(body: bytes, error: type[ProtocolError], message: str) -> None:
    with pytest.raises(error, match=message) as info:
        decode_payload(body, 100)
    assert type(info.value) is error


def test_payload_at_the_limit_is_accepted() -> None:
    assert decode_payload(b"4" + b"x" * 99, 100) == [Packet(T.MESSAGE, "x" * 99)]


def test_open_packet() -> None:
    text = open_packet("lv_VI97HAXpY6yYWAAAC", ["websocket"], 25000, 5000, 1000000)
    assert text == ('0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
                    '"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}')
    assert json.loads(open_packet("s", (), 1, 2, 3)[1:])["upgrades"] == []


# JSON never carries a raw record separator, so neither do the messages Socket.IO sends.
_texts = st.text(st.characters(codec="utf-8", exclude_characters="\x1e"))
_packets = st.one_of(
    st.builds(Packet, st.sampled_from(PacketType), _texts),
    st.builds(Packet, st.just(T.MESSAGE), st.binary()),
)


@given(st.lists(_packets, min_size=1))
def test_payload_round_trip(packets: list[Packet]) -> None:
    body = encode_payload([polling_packet(p) for p in packets])
    assert decode_payload(body, len(body)) == packets


@given(_packets)
def test_websocket_round_trip(packet: Packet) -> None:
    if isinstance(packet.data, bytes):
        assert decode_binary(packet.data) == packet
    else:
        assert decode_text(encode_text(packet)) == packet


def test_message_and_binary_polling_forms_round_trip() -> None:
    assert decode_text(message('2["e",1]')) == Packet(T.MESSAGE, '2["e",1]')
    body = encode_payload([message("2").encode(), polling_binary(b"\x00\xff")])
    assert decode_payload(body, 1000) == [Packet(T.MESSAGE, "2"), Packet(T.MESSAGE, b"\x00\xff")]
    assert polling_binary_data(polling_binary(b"\x01")) == b"\x01"
    assert polling_binary_data(b"42") is None
