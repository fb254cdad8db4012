"""RFC 6455 WebSocket, server side, sans-I/O: bytes in, events and bytes out.

The HTTP front validates the upgrade request with :func:`check_upgrade` and writes
:func:`upgrade_response`; from then on a :class:`ServerConnection` takes the client's bytes
and returns complete messages plus the bytes the server must answer with (pongs, close
frames). Parsing is strict because a lenient parser is how smuggling and memory exhaustion
get in: every rule of section 5 is enforced, and a frame too large for the limit is refused
from its header, before any of its payload is buffered.

Server frames are never masked, so one encoded frame can be written to many clients.
No extension and no subprotocol is ever negotiated, so the reserved bits must stay clear.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import GatewayError, InvalidUTF8, PayloadTooLarge, ProtocolError, UpgradeRequired

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")
_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")
_MAX_CONTROL_PAYLOAD = 125
# Below this size XOR on one big int beats four strided translates; measured, not guessed.
_TRANSLATE_FROM = 1024


# -- handshake ----------------------------------------------------------------------------

def accept_key(sec_websocket_key: str) -> str:
    """The Sec-WebSocket-Accept value proving the server read this handshake (RFC 4.2.2)."""
    digest = hashlib.sha1(sec_websocket_key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def check_upgrade(method: str, headers: Mapping[str, str]) -> str:
    """Validate an upgrade request (header names lower-cased); return the accept value."""
    if method != "GET":
        raise ProtocolError("a WebSocket upgrade must use GET")
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        raise ProtocolError("missing 'Upgrade: websocket' header")
    if "upgrade" not in _tokens(headers.get("connection", "")):
        raise ProtocolError("missing 'Connection: Upgrade' header")
    version = headers.get("sec-websocket-version", "").strip()
    if version != "13":
        raise UpgradeRequired(
            f"unsupported WebSocket version {version or '(none)'}: version 13 is required")
    key = headers.get("sec-websocket-key", "").strip()
    try:
        nonce = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII characters
        nonce = b""
    if len(nonce) != 16:
        raise ProtocolError("Sec-WebSocket-Key must be 16 bytes in base64")
    return accept_key(key)


def upgrade_response(accept: str, extra_headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """The complete 101 response; extra headers are checked so none can inject a line."""
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept}"]
    for name, value in extra_headers:
        if any(c in name + value for c in "\r\n\0") or not name or ":" in name:
            raise ValueError(f"invalid response header {name!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


# -- server frames ------------------------------------------------------------------------

def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One unmasked server frame with the minimal length encoding."""
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode {opcode} does not fit in four bits")
    if opcode >= OP_CLOSE and (len(payload) > _MAX_CONTROL_PAYLOAD or not fin):
        raise ValueError("control frames carry at most 125 bytes and are never fragmented")
    return _frame((0x80 if fin else 0) | opcode, payload)


def _frame(first: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 0x10000:
        return _HEAD16.pack(first, 126, length) + payload
    return _HEAD64.pack(first, 127, length) + payload


def text_frame(payload: bytes) -> bytes:
    """A final text frame; ``payload`` is already UTF-8 (it is encoded once per broadcast)."""
    return _frame(0x80 | OP_TEXT, payload)


def binary_frame(payload: bytes) -> bytes:
    return _frame(0x80 | OP_BINARY, payload)


def close_frame(code: int | None = 1000, reason: str = "") -> bytes:
    """A close frame; the reason is cut at a character boundary to fit 125 bytes."""
    if code is None:
        return b"\x88\x00"
    if not _valid_close_code(code):
        raise ValueError(f"close code {code} must not be sent")
    return _frame(0x80 | OP_CLOSE, _U16.pack(code) + _fit_reason(reason))


def _fit_reason(reason: str) -> bytes:
    raw = reason.encode("utf-8")
    if len(raw) <= _MAX_CONTROL_PAYLOAD - 2:
        return raw
    # "ignore" drops the partial character the cut may have left at the end.
    return raw[:_MAX_CONTROL_PAYLOAD - 2].decode("utf-8", "ignore").encode("utf-8")


def _valid_close_code(code: int) -> bool:
    # 1004 is reserved; 1005, 1006 and 1015 stand for "no frame" and never go on the wire.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


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
    code: int | None  # None: the close frame had no payload (status 1005)
    reason: str


Event = TextMessage | BinaryMessage | Ping | Pong | CloseReceived


class State(StrEnum):
    OPEN = "open"
    CLOSING = "closing"  # the server sent a close frame and waits for the client's
    CLOSED = "closed"


# -- unmasking ----------------------------------------------------------------------------

@functools.cache
def _xor_table(key: int) -> bytes:
    return bytes(byte ^ key for byte in range(256))


def _unmask(payload: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR with the repeating 4-byte mask, always in C, never byte by byte in Python."""
    length = len(payload)
    if length < _TRANSLATE_FROM:
        if not length:
            return b""
        key = (mask * ((length >> 2) + 1))[:length]
        return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
            length, "little")
    # Every fourth byte shares a mask byte, so each stride is one table lookup pass.
    out = bytearray(payload)
    for lane in range(4):
        out[lane::4] = out[lane::4].translate(_xor_table(mask[lane]))
    return bytes(out)


# -- the connection -----------------------------------------------------------------------

class ServerConnection:
    """One WebSocket connection after a successful handshake (the HTTP layer does that).

    ``receive_data`` never raises on bad input: a violation queues a close frame with the
    matching code, records :attr:`failure`, and everything after it is ignored.
    """

    __slots__ = ("_buffer", "_close_code", "_close_reason", "_decoder", "_events", "_failure",
                 "_message_opcode", "_message_size", "_outgoing", "_parts", "_should_close",
                 "_state", "max_message_bytes")

    def __init__(self, max_message_bytes: int = 1_000_000) -> None:
        self.max_message_bytes = max_message_bytes
        # Thousands of connections sit idle for hours, so nothing below is allocated until
        # it is needed: an incomplete frame carried over to the next read, events not yet
        # collected, control frames to send.
        self._buffer: bytearray | None = None
        self._events: list[Event] | None = None
        self._outgoing = b""
        self._state = State.OPEN
        self._failure: GatewayError | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._should_close = False
        # The fragmented message in progress (opcode None: none). Text is decoded fragment
        # by fragment, so it is never decoded twice and bad UTF-8 fails at its fragment.
        self._message_opcode: int | None = None
        self._message_size = 0
        self._parts: list[Any] | None = None  # str fragments of text, bytes of binary
        self._decoder: codecs.IncrementalDecoder | None = None  # made on first use

    @property
    def state(self) -> State:
        return self._state

    @property
    def failure(self) -> GatewayError | None:
        """The violation that made the server close, for logging."""
        return self._failure

    @property
    def close_code(self) -> int | None:
        """The code of the close that started the closing handshake, received or sent."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    @property
    def held(self) -> int:
        """Bytes kept for what has not fully arrived: an unfinished frame, the fragments of
        an unfinished message."""
        return (len(self._buffer) if self._buffer else 0) + self._message_size

    @property
    def should_close_transport(self) -> bool:
        """True once the transport is to be closed after writing :meth:`data_to_send`."""
        return self._should_close

    def events_received(self) -> list[Event]:
        events, self._events = self._events, None
        return events or []

    def data_to_send(self) -> bytes:
        data, self._outgoing = self._outgoing, b""
        return data

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the transport stays open for the client's reply."""
        if self._state is State.OPEN:
            self._send_close(code, reason)
            self._state = State.CLOSING

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        if self._state is State.CLOSED or not data:
            return
        if not isinstance(data, bytes):
            data = bytes(data)
        buffer = self._buffer
        source: bytes | bytearray = data
        if buffer:
            buffer += data
            source = buffer
        try:
            if source is data and self._fast_path(data):
                return
            consumed = self._parse(source)
        except GatewayError as exc:
            self._fail(exc)
            consumed = len(source)
        if self._should_close:  # closed by this data: whatever follows is ignored
            self._buffer = None
        elif buffer:
            # Deleting a bytearray's head only moves its start pointer in CPython.
            del buffer[:consumed]
            if not buffer:
                self._buffer = None
        elif consumed < len(data):
            self._buffer = bytearray(memoryview(data)[consumed:])

    def _fast_path(self, data: bytes) -> bool:
        """One complete, final, small text or binary frame: the usual read, parsed inline."""
        length = len(data) - 6
        first = data[0]
        if (0 <= length < 126 and data[1] == 0x80 | length and (first == 0x81 or first == 0x82)
                and self._message_opcode is None and self._state is State.OPEN
                and length <= self.max_message_bytes):
            self._whole_message(first & 0x0F, _unmask(data[6:], data[2:6]))
            return True
        return False

    def _parse(self, data: bytes | bytearray) -> int:
        """Handle every complete frame in ``data``; return how many bytes they took."""
        offset = 0
        end = len(data)
        while end - offset >= 2 and self._state is not State.CLOSED:
            first = data[offset]
            second = data[offset + 1]
            opcode = first & 0x0F
            fin = first & 0x80 != 0
            length = second & 0x7F
            # Everything that can be refused from the first two bytes is, before waiting.
            if first & 0x70:
                raise ProtocolError("reserved bits set but no extension was negotiated")
            if not second & 0x80:
                raise ProtocolError("client frames must be masked")
            if opcode >= OP_CLOSE:
                if opcode > OP_PONG:
                    raise ProtocolError(f"unknown opcode {opcode:#x}")
                if not fin:
                    raise ProtocolError("control frames must not be fragmented")
                if length > _MAX_CONTROL_PAYLOAD:
                    raise ProtocolError("control frame payload longer than 125 bytes")
            elif opcode == OP_CONTINUATION:
                if self._message_opcode is None:
                    raise ProtocolError("continuation frame without a message to continue")
            elif opcode > OP_BINARY:
                raise ProtocolError(f"unknown opcode {opcode:#x}")
            elif self._message_opcode is not None:
                raise ProtocolError("new message started before the fragmented one ended")
            header = 6
            if length == 126:
                header = 8
                if end - offset < 4:
                    break
                length = _U16.unpack_from(data, offset + 2)[0]
                if length < 126:
                    raise ProtocolError("frame length is not minimally encoded")
            elif length == 127:
                header = 14
                if end - offset < 10:
                    break
                length = _U64.unpack_from(data, offset + 2)[0]
                if length >> 63:
                    raise ProtocolError("frame length has its most significant bit set")
                if length < 0x10000:
                    raise ProtocolError("frame length is not minimally encoded")
            total = length + self._message_size if opcode == OP_CONTINUATION else length
            if total > self.max_message_bytes:
                raise PayloadTooLarge(
                    f"message larger than the limit of {self.max_message_bytes} bytes")
            start = offset + header
            stop = start + length
            if stop > end:
                break
            mask = bytes(data[start - 4:start])
            if length < _TRANSLATE_FROM:
                payload = _unmask(data[start:stop], mask)
            else:
                with memoryview(data) as view:  # released before the buffer is resized
                    payload = _unmask(view[start:stop], mask)
            offset = stop
            if opcode <= OP_BINARY:
                self._data_frame(opcode, fin, payload)
            elif opcode == OP_PING:
                self._emit(Ping(payload))
                if self._state is State.OPEN:
                    # Only the latest ping is answered (RFC 6455 5.5.3 allows it): while
                    # open, nothing but a pong can be waiting in _outgoing, so a flood of
                    # pings in one read leaves one pong.
                    self._outgoing = _frame(0x80 | OP_PONG, payload)
            elif opcode == OP_PONG:
                self._emit(Pong(payload))
            else:
                self._close_received(payload)
        return offset

    def _data_frame(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode != OP_CONTINUATION:
            if fin:
                self._whole_message(opcode, payload)
                return
            self._message_opcode = opcode
        kind = self._message_opcode
        self._message_size += len(payload)
        if fin:
            self._message_opcode = None
            self._message_size = 0
        if self._state is not State.OPEN:
            return  # closing: framing is still checked, content is dropped
        if self._parts is None:
            self._parts = []
        if kind == OP_TEXT:
            self._parts.append(self._decode_fragment(payload, final=fin))
            if fin:
                self._emit(TextMessage("".join(self._parts)))
                self._parts = None
        else:
            self._parts.append(payload)
            if fin:
                self._emit(BinaryMessage(b"".join(self._parts)))
                self._parts = None

    def _whole_message(self, opcode: int, payload: bytes) -> None:
        if self._state is not State.OPEN:
            return  # the server already said goodbye; validating text would be wasted work
        if opcode == OP_BINARY:
            self._emit(BinaryMessage(payload))
            return
        try:
            self._emit(TextMessage(payload.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise InvalidUTF8("text message is not valid UTF-8") from exc

    def _decode_fragment(self, payload: bytes, *, final: bool) -> str:
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            text = decoder.decode(payload, final)
        except UnicodeDecodeError as exc:
            raise InvalidUTF8("text message is not valid UTF-8") from exc
        if not final:
            # CPython holds ED A0..ED BF (the start of a UTF-16 surrogate, never valid) as
            # "maybe incomplete" rather than failing; the RFC wants the failure now.
            pending = decoder.getstate()[0]
            if pending[:1] == b"\xed" and pending[1:2] >= b"\xa0":
                raise InvalidUTF8("text message is not valid UTF-8")
        return text

    def _close_received(self, payload: bytes) -> None:
        if len(payload) == 1:
            raise ProtocolError("close frame with a one-byte payload")
        code: int | None = None
        reason = ""
        if payload:
            code = _U16.unpack_from(payload)[0]
            if not _valid_close_code(code):
                raise ProtocolError(f"invalid close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidUTF8("close reason is not valid UTF-8") from exc
        self._emit(CloseReceived(code, reason))
        if self._state is State.OPEN:
            # Echo the code (the RFC's usual answer); an empty close is answered in kind.
            self._outgoing += close_frame(code)
            self._close_code, self._close_reason = code, reason
        self._closed()

    def _send_close(self, code: int, reason: str) -> None:
        self._outgoing += close_frame(code, reason)
        self._close_code, self._close_reason = code, _fit_reason(reason).decode("utf-8")

    def _emit(self, event: Event) -> None:
        if self._events is None:
            self._events = [event]
        else:
            self._events.append(event)

    def _fail(self, error: GatewayError) -> None:
        self._failure = error
        if self._state is State.OPEN:
            self._send_close(error.close_code, error.message)
        self._closed()

    def _closed(self) -> None:
        self._state = State.CLOSED
        self._should_close = True
        self._message_opcode = None
        self._parts = None
        self._decoder = None
