"""WebSocket frames as a client sends them, for tests that speak the wire directly."""

from __future__ import annotations

import struct

RFC_MASK = bytes.fromhex("37fa213d")  # the mask of the examples in RFC 6455 5.7


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, masked: bool = True,
          rsv: int = 0, length_field: int | None = None, mask: bytes = RFC_MASK) -> bytes:
    """A frame as a client sends it. ``length_field`` forces 7, 16 or 64 bits of length, even
    where that is not the minimal encoding. Masking is a plain byte loop on purpose: it is the
    reference the server's fast unmasking is checked against."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    mask_bit = 0x80 if masked else 0
    length = len(payload)
    bits = length_field or (7 if length < 126 else 16 if length < 1 << 16 else 64)
    if bits == 7:
        head = bytes((first, mask_bit | length))
    elif bits == 16:
        head = bytes((first, mask_bit | 126)) + struct.pack("!H", length)
    else:
        head = bytes((first, mask_bit | 127)) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split unmasked frames as a server sends them (whole frames only; a cut-off tail is
    an error, because tests read to the end of the stream)."""
    frames = []
    at = 0
    while at < len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, at)
            at += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, at)
            at += 8
        if at + length > len(data):
            raise ValueError(f"frame of {length} bytes cut off at {len(data) - at}")
        frames.append((opcode, data[at:at + length]))
        at += length
    return frames
