"""RFC 6455 WebSocket, server side, sans-I/O.

The HTTP front validates the upgrade request with :func:`check_upgrade` and writes
:func:`upgrade_response`; from then on :class:`ServerConnection` takes the client's bytes and
returns complete messages plus the bytes the server must answer with (pongs, close frames).
Parsing is strict: masking, reserved bits, opcodes, control-frame rules, fragmentation,
minimal length encoding, size limits (checked from the header, before any payload is
buffered), UTF-8 of text and close reasons, close codes. A violation closes the connection
with the matching close code and the connection ignores everything after it.

Server frames are never masked, so one encoded frame can be written to any number of
clients. No extension (permessage-deflate) is ever negotiated.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from ..errors import GatewayError, InvalidUTF8, PayloadTooLarge, ProtocolError

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_DATA_OPCODES = (OP_CONTINUATION, OP_TEXT, OP_BINARY)
_CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)


# -- handshake ----------------------------------------------------------------------------

def accept_key(sec_websocket_key: str) -> str:
    digest = hashlib.sha1(sec_websocket_key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def check_upgrade(method: str, headers: Mapping[str, str]) -> str:
    """Validate an upgrade request (lower-cased header names); return the accept value."""
    if method != "GET":
        raise ProtocolError("a WebSocket upgrade must use GET")
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        raise ProtocolError("missing 'Upgrade: websocket' header")
    if "upgrade" not in _tokens(headers.get("connection", "")):
        raise ProtocolError("missing 'Connection: Upgrade' header")
    if headers.get("sec-websocket-version", "").strip() != "13":
        raise ProtocolError("unsupported WebSocket version: version 13 is required")
    key = headers.get("sec-websocket-key", "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise ProtocolError("Sec-WebSocket-Key must be 16 bytes in base64")
    return accept_key(key)


def upgrade_response(accept: str, extra_headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept}"]
    lines += [f"{name}: {value}" for name, value in extra_headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


# -- server frames ------------------------------------------------------------------------

def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One unmasked server frame."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 1 << 16:
        return bytes((first, 126)) + length.to_bytes(2, "big") + payload
    return bytes((first, 127)) + length.to_bytes(8, "big") + payload


def text_frame(payload: bytes) -> bytes:
    return encode_frame(OP_TEXT, payload)


def binary_frame(payload: bytes) -> bytes:
    return encode_frame(OP_BINARY, payload)


def close_frame(code: int | None = 1000, reason: str = "") -> bytes:
    if code is None:
        return encode_frame(OP_CLOSE, b"")
    raw = reason.encode("utf-8")
    if len(raw) > 123:
        # Cut at a character boundary so the peer's UTF-8 check passes.
        raw = raw[:123].decode("utf-8", "ignore").encode("utf-8")
    return encode_frame(OP_CLOSE, code.to_bytes(2, "big") + raw)


# -- events -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TextMessage:
    text: str


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    code: int | None
    reason: str


Event = TextMessage | BinaryMessage | Ping | Pong | CloseReceived


class State(Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


def _valid_close_code(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _unmask(payload: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR with the 4-byte mask, on whole integers rather than byte by byte."""
    length = len(payload)
    if not length:
        return b""
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        length, "little")


class ServerConnection:
    """One WebSocket connection after a successful handshake."""

    def __init__(self, max_message_bytes: int = 1_000_000) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._events: list[Event] = []
        self._outgoing = bytearray()
        self._state = State.OPEN
        self._failure: GatewayError | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._should_close = False
        # The message being reassembled from fragments (opcode None: none in progress).
        self._fragment_opcode: int | None = None
        self._fragments: list[bytes] = []
        self._fragment_size = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    @property
    def state(self) -> State:
        return self._state

    @property
    def failure(self) -> GatewayError | None:
        return self._failure

    @property
    def close_code(self) -> int | None:
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    @property
    def should_close_transport(self) -> bool:
        return self._should_close

    def events_received(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake from the server side."""
        if self._state is State.OPEN:
            self._outgoing += close_frame(code, reason)
            self._state = State.CLOSING
            self._close_code, self._close_reason = code, reason

    def receive_data(self, data: bytes) -> None:
        if self._state is State.CLOSED:
            return
        self._buffer += data
        try:
            self._parse()
        except GatewayError as exc:
            self._fail(exc)

    # -- parsing ----------------------------------------------------------------------

    def _parse(self) -> None:
        buffer = self._buffer
        offset = 0
        end = len(buffer)
        while self._state is not State.CLOSED and end - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            if first & 0x70:
                raise ProtocolError("reserved bits set without a negotiated extension")
            if not second & 0x80:
                raise ProtocolError("client frames must be masked")
            opcode, fin = first & 0x0F, bool(first & 0x80)
            length = second & 0x7F
            header = 6
            if length == 126:
                header = 8
                if end - offset < header:
                    break
                length = int.from_bytes(buffer[offset + 2:offset + 4], "big")
                if length < 126:
                    raise ProtocolError("frame length is not minimally encoded")
            elif length == 127:
                header = 14
                if end - offset < header:
                    break
                length = int.from_bytes(buffer[offset + 2:offset + 10], "big")
                if length >> 63:
                    raise ProtocolError("frame length has its most significant bit set")
                if length < 1 << 16:
                    raise ProtocolError("frame length is not minimally encoded")
            self._check_header(opcode, fin, length)
            if end - offset < header + length:
                break
            mask = bytes(buffer[offset + header - 4:offset + header])
            start = offset + header
            payload = _unmask(buffer[start:start + length], mask)
            offset = start + length
            self._frame(opcode, fin, payload)
        if offset:
            del buffer[:offset]

    def _check_header(self, opcode: int, fin: bool, length: int) -> None:
        """Everything that can be refused before the payload arrives."""
        if opcode in _CONTROL_OPCODES:
            if length > 125:
                raise ProtocolError("control frame payload longer than 125 bytes")
            if not fin:
                raise ProtocolError("control frames must not be fragmented")
        elif opcode in _DATA_OPCODES:
            if opcode == OP_CONTINUATION and self._fragment_opcode is None:
                raise ProtocolError("continuation frame without a message to continue")
            if opcode != OP_CONTINUATION and self._fragment_opcode is not None:
                raise ProtocolError("new message started before the fragmented one ended")
            if self._fragment_size + length > self.max_message_bytes:
                raise PayloadTooLarge(
                    f"message larger than the limit of {self.max_message_bytes} bytes")
        else:
            raise ProtocolError(f"unknown opcode {opcode:#x}")

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode == OP_PING:
            self._events.append(Ping(payload))
            if self._state is State.OPEN:
                self._outgoing += encode_frame(OP_PONG, payload)
        elif opcode == OP_PONG:
            self._events.append(Pong(payload))
        elif opcode == OP_CLOSE:
            self._close_frame(payload)
        elif self._state is State.OPEN:
            self._data_frame(opcode, fin, payload)

    def _data_frame(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode != OP_CONTINUATION:
            self._fragment_opcode = opcode
        if self._fragment_opcode == OP_TEXT:
            # Incremental, so an invalid sequence fails at the fragment that carries it.
            try:
                self._utf8.decode(payload, fin)
            except UnicodeDecodeError as exc:
                self._utf8.reset()
                raise InvalidUTF8("text message is not valid UTF-8") from exc
        if not fin:
            self._fragments.append(payload)
            self._fragment_size += len(payload)
            return
        if self._fragments:
            self._fragments.append(payload)
            payload = b"".join(self._fragments)
        kind = self._fragment_opcode
        self._fragment_opcode = None
        self._fragments = []
        self._fragment_size = 0
        if kind == OP_TEXT:
            self._utf8.reset()
            self._events.append(TextMessage(payload.decode("utf-8")))
        else:
            self._events.append(BinaryMessage(payload))

    def _close_frame(self, payload: bytes) -> None:
        code: int | None = None
        reason = ""
        if len(payload) == 1:
            raise ProtocolError("close frame payload of one byte")
        if payload:
            code = int.from_bytes(payload[:2], "big")
            if not _valid_close_code(code):
                raise ProtocolError(f"invalid close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidUTF8("close reason is not valid UTF-8") from exc
        self._events.append(CloseReceived(code, reason))
        if self._state is State.OPEN:
            self._outgoing += close_frame(code)
            self._close_code, self._close_reason = code, reason
        self._state = State.CLOSED
        self._should_close = True

    def _fail(self, error: GatewayError) -> None:
        self._failure = error
        if self._state is State.OPEN:
            self._outgoing += close_frame(error.close_code, error.message)
            self._close_code, self._close_reason = error.close_code, error.message
        self._state = State.CLOSED
        self._should_close = True
        self._buffer.clear()
        self._fragments = []
