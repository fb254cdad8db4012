"""WebSocket frames as a client sends them, for tests that speak the wire directly."""

from __future__ import annotations

import os
import struct


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True,
                 rsv: int = 0, length_form: str = "minimal") -> bytes:
    """A frame as a client sends it (masked, unless told not to)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length_form == "16" or (length_form == "minimal" and 126 <= length < 1 << 16):
        head = bytes((first, mask_bit | 126)) + struct.pack("!H", length)
    elif length_form == "64" or (length_form == "minimal" and length >= 1 << 16):
        head = bytes((first, mask_bit | 127)) + struct.pack("!Q", length)
    else:
        head = bytes((first, mask_bit | length))
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
