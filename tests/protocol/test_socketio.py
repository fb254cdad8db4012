from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.errors import ProtocolError
from yellowbox_realtime.protocol import engineio as eio
from yellowbox_realtime.protocol.socketio import (
    Decoder,
    SioPacket,
    SioType,
    encode,
    encode_event_text,
    has_binary,
)

T = SioType
B1234 = b"\x01\x02\x03\x04"


def decode(text: str, *attachments: bytes) -> SioPacket:
    decoder = Decoder(max_attachments=max(10, len(attachments)))
    packet = decoder.feed_text(text)
    for attachment in attachments:
        assert packet is None
        packet = decoder.feed_binary(attachment)
    assert packet is not None
    assert decoder.pending_attachments == 0
    return packet


# (packet, text, attachments), from the socket.io-protocol spec and the brief.
SPEC = [
    (SioPacket(T.CONNECT), "0", []),
    (SioPacket(T.CONNECT, data={"sid": "wZX3oN0bSVIhsaknAAAI"}), '0{"sid":"wZX3oN0bSVIhsaknAAAI"}',
     []),
    (SioPacket(T.CONNECT, "/admin"), "0/admin,", []),
    (SioPacket(T.CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}),
     '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}', []),
    (SioPacket(T.CONNECT, "/admin", {"token": "123"}), '0/admin,{"token":"123"}', []),
    (SioPacket(T.CONNECT_ERROR, data={"message": "Not authorized"}),
     '4{"message":"Not authorized"}', []),
    (SioPacket(T.CONNECT_ERROR, data="Not authorized"), '4"Not authorized"', []),
    (SioPacket(T.EVENT, data=["foo"]), '2["foo"]', []),
    (SioPacket(T.EVENT, data=["hello", 1]), '2["hello",1]', []),
    (SioPacket(T.EVENT, "/admin", ["bar"]), '2/admin,["bar"]', []),
    (SioPacket(T.EVENT, "/admin", ["project:delete", 123]), '2/admin,["project:delete",123]', []),
    (SioPacket(T.EVENT, data=["baz", B1234]), '51-["baz",{"_placeholder":true,"num":0}]', [B1234]),
    (SioPacket(T.EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"]),
     '52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
     [b"\x01\x02", b"\x03\x04"]),
    (SioPacket(T.EVENT, data=["foo"], id=12), '212["foo"]', []),
    (SioPacket(T.ACK, data=[], id=12), "312[]", []),
    (SioPacket(T.ACK, data=["bar"], id=1), '31["bar"]', []),
    (SioPacket(T.EVENT, "/admin", ["foo"], 13), '2/admin,13["foo"]', []),
    (SioPacket(T.ACK, "/admin", ["bar"], 13), '3/admin,13["bar"]', []),
    (SioPacket(T.EVENT, data=["foo", B1234], id=14), '51-14["foo",{"_placeholder":true,"num":0}]',
     [B1234]),
    (SioPacket(T.ACK, data=["bar", B1234], id=15), '61-15["bar",{"_placeholder":true,"num":0}]',
     [B1234]),
    (SioPacket(T.DISCONNECT), "1", []),
    (SioPacket(T.DISCONNECT, "/admin"), "1/admin,", []),
    (SioPacket(T.EVENT, data=["é", {"a": [None, True, 1.5]}]), '2["é",{"a":[null,true,1.5]}]', []),
]


@pytest.mark.parametrize(("packet", "text", "attachments"), SPEC)
def test_encode(packet: SioPacket, text: str, attachments: list[bytes]) -> None:
    assert encode(packet) == (text, attachments)


@pytest.mark.parametrize(("packet", "text", "attachments"), SPEC)
def test_decode(packet: SioPacket, text: str, attachments: list[bytes]) -> None:
    decoded = decode(text, *attachments)
    assert decoded == packet
    assert decoded.binary == bool(attachments)
    assert decoded.type is packet.type


def test_binary_kinds_normalise_by_content() -> None:
    assert encode(SioPacket(T.BINARY_EVENT, data=["x"])) == ('2["x"]', [])
    assert encode(SioPacket(T.BINARY_ACK, data=[], id=3)) == ("33[]", [])
    text, attachments = encode(SioPacket(T.ACK, data=[bytearray(b"a"), memoryview(b"b")], id=3))
    assert text == '62-3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
    assert attachments == [b"a", b"b"]
    assert all(type(a) is bytes for a in attachments)


def test_encode_does_not_touch_caller_data() -> None:
    data = ["e", {"blob": B1234, "list": (B1234,)}]
    encode(SioPacket(T.EVENT, data=data))
    assert data == ["e", {"blob": B1234, "list": (B1234,)}]


@pytest.mark.parametrize(
    ("packet", "error"),
    [
        (SioPacket(T.EVENT, "admin", ["x"]), "invalid namespace"),
        (SioPacket(T.EVENT, "/a,b", ["x"]), "invalid namespace"),
        (SioPacket(T.EVENT, data=["x"], id=-1), "out of range"),
        (SioPacket(T.EVENT, data=["x"], id=2**53), "out of range"),
    ],
)
def test_encode_rejects_undecodable_headers(packet: SioPacket, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        encode(packet)


def test_encode_rejects_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError, match="only allowed in EVENT and ACK"):
        encode(SioPacket(T.CONNECT, data={"blob": b"x"}))
    with pytest.raises(ValueError, match="JSON"):
        encode(SioPacket(T.EVENT, data=["x", float("nan")]))


@pytest.mark.parametrize(
    ("args", "nsp", "ack_id", "text"),
    [
        ((), "/", None, '2["ping"]'),
        (({"lat": 1.5, "lng": -2},), "/", None, '2["ping",{"lat":1.5,"lng":-2}]'),
        (("ü", [1, None]), "/admin", 17, '2/admin,17["ping","ü",[1,null]]'),
        (["x"], "/", 0, '20["ping","x"]'),
    ],
)
def test_encode_event_text(args: tuple[Any, ...], nsp: str, ack_id: int | None,
                           text: str) -> None:
    assert encode_event_text(nsp, "ping", args, ack_id) == text
    assert encode(SioPacket(T.EVENT, nsp, ["ping", *args], ack_id)) == (text, [])


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (None, False),
        ("bytes", False),
        ([1, "a", {"b": [None]}], False),
        ({b"key": 1}, False),  # only values travel as attachments
        (b"", True),
        (bytearray(), True),
        (memoryview(b"x"), True),
        ([1, {"a": [{"b": b"x"}]}], True),
        ((1, (2, b"x")), True),
    ],
)
def test_has_binary(obj: object, expected: bool) -> None:
    assert has_binary(obj) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("7", "unknown packet type '7'"),
        ("x", "unknown packet type 'x'"),
        # namespace
        ('2admin,["x"]', "unexpected 'a' at offset 1: expected a namespace"),
        ('2/admin["x"]', "namespace must end with ','"),
        # ack id
        ('29007199254740992["x"]', r"ack id out of range \[0, 2\*\*53\)"),
        ('2' + '1' * 40 + '["x"]', "ack id out of range"),
        ('2-1["x"]', "unexpected '-' at offset 1"),
        ('2１["x"]', "unexpected '１'"),  # noqa: RUF001 - a fullwidth digit on purpose
        ('01{"a":1}', "CONNECT takes no ack id"),
        ("11", "DISCONNECT takes no ack id"),
        ('41{"message":"x"}', "CONNECT_ERROR takes no ack id"),
        # JSON
        ('2["x"', "bad JSON payload"),
        ('2["x"]]', "bad JSON payload: Extra data"),
        ('2["x",NaN]', "bad JSON payload: NaN is not valid JSON"),
        ('2["x",-Infinity]', "bad JSON payload"),
        ('2["x",' + "1" * 5000 + "]", "bad JSON payload"),
        ('2["x",' + "[" * 100_000 + "]" * 100_000 + "]", "nested too deeply"),
        ('2 ["x"]', "unexpected ' '"),
        ("2x", "unexpected 'x'"),
        # payload shapes
        ("0[]", "CONNECT payload must be an object"),
        ('0"token"', "CONNECT payload must be an object"),
        ("1{}", "DISCONNECT takes no payload"),
        ("1/admin,[]", "DISCONNECT takes no payload"),
        ("2", "EVENT payload must be an array starting with the event name"),
        ("2[]", "EVENT payload must be an array starting with the event name"),
        ("2[1]", "EVENT payload must be an array starting with the event name"),
        ('2{"a":1}', "EVENT payload must be an array"),
        ('2"x"', "EVENT payload must be an array"),
        ('51-[{"_placeholder":true,"num":0}]', "EVENT payload must be an array starting with"),
        ("31", "ACK payload must be an array"),
        ('31{"a":1}', "ACK payload must be an array"),
        ('3["x"]', "ACK needs an ack id"),
        ("61-[]", "ACK needs an ack id"),
        ("4", "CONNECT_ERROR payload must be an object or a string"),
        ("4[]", "CONNECT_ERROR payload must be an object or a string"),
        # attachment count
        ('5["x"]', "attachment count as digits then '-'"),
        ('5-["x"]', "attachment count as digits then '-'"),
        ('5a-["x"]', "attachment count as digits then '-'"),
        ('5²-["x"]', "attachment count as digits then '-'"),
        ('51_0-["x"]', "attachment count as digits then '-'"),
        ('511-["x"]', "more than 10 attachments"),
        ('5' + '9' * 5000 + '-["x"]', "more than 10 attachments"),
        # placeholders, checked once the (here: zero) attachments are in
        ('50-["x",{"_placeholder":true,"num":0}]', r"placeholder number 0 not in \[0, 0\)"),
    ],
)
def test_decode_rejects(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        Decoder().feed_text(text)
    assert info.value.message.startswith("invalid Socket.IO packet")


@pytest.mark.parametrize(
    "placeholder",
    [
        '{"_placeholder":true,"num":2}',
        '{"_placeholder":true,"num":-1}',
        '{"_placeholder":true,"num":"0"}',
        '{"_placeholder":true,"num":true}',
        '{"_placeholder":true,"num":0.0}',
        '{"_placeholder":true}',
    ],
)
def test_placeholder_out_of_range(placeholder: str) -> None:
    decoder = Decoder()
    assert decoder.feed_text(f'52-["x",{{"deep":[{placeholder}]}}]') is None
    assert decoder.feed_binary(b"a") is None
    with pytest.raises(ProtocolError, match=r"placeholder number .* not in"):
        decoder.feed_binary(b"b")
    assert decoder.pending_attachments == 0  # the decoder is clean again


def test_placeholder_shaped_data_outside_binary_packets_is_data() -> None:
    data = ["x", {"_placeholder": True, "num": 0}]
    assert decode('2["x",{"_placeholder":true,"num":0}]') == SioPacket(T.EVENT, data=data)
    # And an object whose _placeholder is not exactly true is left alone in binary ones too.
    text = '51-["x",{"_placeholder":1,"num":0},{"_placeholder":true,"num":0}]'
    assert decode(text, b"z").data == ["x", {"_placeholder": 1, "num": 0}, b"z"]


def test_attachments_may_be_shared_and_unused() -> None:
    text = '52-["x",{"_placeholder":true,"num":1},{"_placeholder":true,"num":1}]'
    assert decode(text, b"a", b"b").data == ["x", b"b", b"b"]


def test_zero_attachments_complete_at_once() -> None:
    packet = Decoder().feed_text('50-["x"]')
    assert packet == SioPacket(T.EVENT, data=["x"])
    assert packet.binary


def test_text_while_attachments_pending() -> None:
    decoder = Decoder()
    assert decoder.feed_text('52-["x",{"_placeholder":true,"num":0}]') is None
    assert decoder.feed_binary(b"a") is None
    assert decoder.pending_attachments == 1
    with pytest.raises(ProtocolError, match=r"text packet received while 1 binary attachment"):
        decoder.feed_text('2["y"]')
    # Reset, so a caller that chose to carry on is not stuck.
    assert decoder.feed_text('2["y"]') == SioPacket(T.EVENT, data=["y"])


def test_binary_without_pending_packet() -> None:
    decoder = Decoder()
    with pytest.raises(ProtocolError, match="no binary packet pending"):
        decoder.feed_binary(b"a")
    assert decoder.feed_text('2["x"]') is not None
    with pytest.raises(ProtocolError, match="no binary packet pending"):
        decoder.feed_binary(b"a")


def test_max_attachments_is_configurable() -> None:
    assert Decoder(max_attachments=1).feed_text('51-["x",{"_placeholder":true,"num":0}]') is None
    with pytest.raises(ProtocolError, match="more than 1 attachments"):
        Decoder(max_attachments=1).feed_text('52-["x"]')
    with pytest.raises(ProtocolError, match="more than 0 attachments"):
        Decoder(max_attachments=0).feed_text('51-["x"]')


def test_decoder_is_reusable_across_packets() -> None:
    decoder = Decoder()
    assert decoder.feed_text('51-["a",{"_placeholder":true,"num":0}]') is None
    assert decoder.feed_binary(bytearray(b"1")) == SioPacket(T.EVENT, data=["a", b"1"])
    assert decoder.feed_text('2["b"]') == SioPacket(T.EVENT, data=["b"])
    assert decoder.feed_text('61-7[{"_placeholder":true,"num":0}]') is None
    packet = decoder.feed_binary(memoryview(b"2"))
    assert packet == SioPacket(T.ACK, data=[b"2"], id=7)
    assert packet is not None
    assert type(packet.data[0]) is bytes


def test_long_packet_is_shortened_in_the_message() -> None:
    with pytest.raises(ProtocolError) as info:
        Decoder().feed_text("2" + "x" * 1000)
    assert len(info.value.message) < 200


# -- round trips ----------------------------------------------------------------------------

# "_placeholder" keys are the one thing real data cannot hold: the protocol reserves them.
_keys = st.text(max_size=8).filter(lambda key: key != "_placeholder")
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(), st.binary(max_size=16),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_namespaces = st.just("/") | st.text(
    st.characters(codec="utf-8", exclude_characters=",\x1e"), min_size=1, max_size=10,
).map(lambda name: "/" + name)
_ids = st.integers(0, 2**53 - 1)
_events = st.builds(lambda name, args: [name, *args], st.text(), st.lists(_values, max_size=4))
_objects = st.dictionaries(_keys, _values, max_size=4)


def _without_bytes(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy.filter(lambda value: not has_binary(value))


_packets = st.one_of(
    st.builds(SioPacket, st.just(T.CONNECT), _namespaces, st.none() | _without_bytes(_objects)),
    st.builds(SioPacket, st.just(T.DISCONNECT), _namespaces),
    st.builds(SioPacket, st.just(T.EVENT), _namespaces, _events, st.none() | _ids),
    st.builds(SioPacket, st.just(T.ACK), _namespaces, st.lists(_values, max_size=4), _ids),
    st.builds(SioPacket, st.just(T.CONNECT_ERROR), _namespaces,
              st.text() | _without_bytes(_objects)),
)


@given(_packets)
def test_round_trip(packet: SioPacket) -> None:
    text, attachments = encode(packet)
    decoded = decode(text, *attachments)
    assert decoded == packet
    assert decoded.binary == has_binary(packet.data)


@given(st.lists(_packets, min_size=1, max_size=5))
def test_round_trip_through_engineio_polling(packets: list[SioPacket]) -> None:
    # What a polling client sees: every Socket.IO part as an Engine.IO MESSAGE in one body.
    records: list[bytes] = []
    for packet in packets:
        text, attachments = encode(packet)
        records.append(eio.polling_packet(eio.Packet(eio.PacketType.MESSAGE, text)))
        records += [eio.polling_packet(eio.Packet(eio.PacketType.MESSAGE, a)) for a in attachments]
    body = eio.encode_payload(records)
    decoder, decoded = Decoder(max_attachments=1000), list[SioPacket]()
    for message in eio.decode_payload(body, len(body)):
        assert message.type is eio.PacketType.MESSAGE
        if isinstance(message.data, str):
            result = decoder.feed_text(message.data)
        else:
            result = decoder.feed_binary(message.data)
        if result is not None:
            decoded.append(result)
    assert decoded == packets


@given(_namespaces, st.text(), st.lists(_without_bytes(_values), max_size=4),
       st.none() | _ids)
def test_event_text_matches_encode(nsp: str, event: str, args: list[Any],
                                   ack_id: int | None) -> None:
    text = encode_event_text(nsp, event, args, ack_id)
    assert text == encode(SioPacket(T.EVENT, nsp, [event, *args], ack_id))[0]
    assert decode(text) == SioPacket(T.EVENT, nsp, [event, *args], ack_id)


@pytest.mark.parametrize(("text", "kind", "nsp"), [("40/custom", T.CONNECT, "/custom"),
                                                   ("41/admin", T.DISCONNECT, "/admin")])
def test_a_namespace_may_end_the_packet_without_a_comma(text: str, kind: SioType,
                                                        nsp: str) -> None:
    # socket.io's own server accepts these (its conformance suite sends "40/custom").
    packet = Decoder().feed_text(text[1:])
    assert packet is not None
    assert (packet.type, packet.nsp) == (kind, nsp)
