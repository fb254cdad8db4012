"""Engine.IO v4 packets and HTTP long-polling payloads (sans-I/O).

A packet is a one-digit type followed by its data: ``4hello``, ``2probe``, ``3``. Binary
MESSAGE packets travel as WebSocket binary frames (the bytes alone, no type) or, in a polling
body and in clients that force base64, as ``b`` + base64. A polling body joins packets with
the record separator ``\\x1e``, which JSON never emits unescaped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from ..errors import InvalidUTF8, PayloadTooLarge, ProtocolError

__all__ = [
    "Packet",
    "PacketType",
    "decode_binary",
    "decode_payload",
    "decode_text",
    "encode_payload",
    "encode_text",
    "message",
    "open_packet",
    "polling_binary",
    "polling_binary_data",
    "polling_packet",
]

SEPARATOR = "\x1e"


class PacketType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@dataclass(frozen=True, slots=True)
class Packet:
    type: PacketType
    data: str | bytes = ""  # bytes only for binary MESSAGE packets


# Lookup tables instead of int()/str() per packet: these run for every frame.
_TYPE_BY_CHAR = {str(int(t)): t for t in PacketType}
_DIGITS = "0123456"


def _b64decode(text: str) -> bytes:
    try:
        # validate=True: the default silently drops non-alphabet characters.
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"binary packet is not valid base64: {exc}") from exc


def decode_text(text: str) -> Packet:
    """One packet from a WebSocket text frame (or one record of a polling body)."""
    if not text:
        raise ProtocolError("empty Engine.IO packet")
    head = text[0]
    if head == "b":
        return Packet(PacketType.MESSAGE, _b64decode(text[1:]))
    kind = _TYPE_BY_CHAR.get(head)
    if kind is None:
        raise ProtocolError(f"unknown Engine.IO packet type {head!r}")
    return Packet(kind, text[1:])


def decode_binary(data: bytes | bytearray | memoryview) -> Packet:
    """A WebSocket binary frame: in v4 it is always a MESSAGE and carries no type byte."""
    return Packet(PacketType.MESSAGE, bytes(data))


def encode_text(packet: Packet) -> str:
    data = packet.data
    if not isinstance(data, str):
        raise TypeError("a binary packet has no text form; send a binary frame or polling_packet")
    return _DIGITS[packet.type] + data


def message(text: str) -> str:
    """The text form of a MESSAGE packet carrying ``text`` (a Socket.IO packet)."""
    return "4" + text


def polling_packet(packet: Packet) -> bytes:
    """One packet as it appears in a polling body, before joining with the separator."""
    data = packet.data
    if isinstance(data, bytes):
        return polling_binary(data)
    return (_DIGITS[packet.type] + data).encode()


def polling_binary(data: bytes) -> bytes:
    """A binary MESSAGE as a polling body carries it: ``b`` and base64."""
    return b"b" + base64.b64encode(data)


def polling_binary_data(packet: bytes) -> bytes | None:
    """The data of a packet made by :func:`polling_binary`; None for any other packet."""
    return base64.b64decode(packet[1:]) if packet.startswith(b"b") else None


def encode_payload(packets: Sequence[bytes]) -> bytes:
    """Join packets already in polling form (see :func:`polling_packet`)."""
    return b"\x1e".join(packets)


def decode_payload(body: bytes, max_payload: int) -> list[Packet]:
    """The packets of an HTTP long-polling POST body."""
    if len(body) > max_payload:
        raise PayloadTooLarge(f"polling body of {len(body)} bytes exceeds {max_payload}")
    if not body:
        raise ProtocolError("empty polling body")
    try:
        # Decode once: the separator byte never occurs inside a multi-byte UTF-8 sequence.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUTF8(f"polling body is not valid UTF-8 at byte {exc.start}") from exc
    records = text.split(SEPARATOR)
    packets: list[Packet] = []
    for index, record in enumerate(records):
        try:
            packets.append(decode_text(record))
        except ProtocolError as exc:
            where = f"packet {index + 1} of {len(records)}"
            raise ProtocolError(f"{where} in polling body: {exc.message}") from exc
    return packets


def open_packet(sid: str, upgrades: Sequence[str], ping_interval_ms: int,
                ping_timeout_ms: int, max_payload: int) -> str:
    """The handshake: ``0`` + the session parameters as compact JSON."""
    handshake = {
        "sid": sid,
        "upgrades": list(upgrades),
        "pingInterval": ping_interval_ms,
        "pingTimeout": ping_timeout_ms,
        "maxPayload": max_payload,
    }
    return "0" + json.dumps(handshake, separators=(",", ":"))
