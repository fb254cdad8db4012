"""One Engine.IO v4 session on one WebSocket, from the client's side.

:func:`open_link` connects and reads the Engine.IO handshake; :meth:`Link.join` sends the
namespace CONNECT and waits for the answer; :meth:`Link.read` hands every Socket.IO packet
of that namespace to a callback until the connection ends, answering the server's pings
and counting the connection dead when no ping comes within ``pingInterval + pingTimeout``
(the watchdog socket.io-client keeps). Packet codecs are the project's sans-I/O ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from ..errors import ConnectRefused, Disconnected, ProtocolError
from ..protocol import engineio as eio
from ..protocol import socketio as sio

__all__ = ["Link", "open_link", "websocket_url"]

log = logging.getLogger(__name__)

PacketCallback = Callable[[sio.SioPacket], Awaitable[str | None]]


class Link:
    __slots__ = ("decoder", "send_lock", "watchdog", "window", "ws")

    def __init__(self, ws: ClientConnection, window: float) -> None:
        self.ws = ws
        # Seconds without a server ping after which the connection counts as dead.
        self.window = window
        self.decoder = sio.Decoder()
        # Text and binary attachments of one packet must not interleave with another packet.
        self.send_lock = asyncio.Lock()
        self.watchdog: asyncio.Timeout | None = None

    async def send(self, packet: sio.SioPacket) -> None:
        text, attachments = sio.encode(packet)
        try:
            async with self.send_lock:
                await self.ws.send("4" + text)
                for attachment in attachments:
                    await self.ws.send(attachment)
        except ConnectionClosed as exc:
            raise Disconnected(f"connection lost: {exc}") from exc

    async def join(self, namespace: str, auth: dict[str, Any]) -> dict[str, Any]:
        """CONNECT to ``namespace``; the server's answer (``{sid, pid?}``), or
        :class:`ConnectRefused` with the server's message."""
        await self.send(sio.SioPacket(sio.SioType.CONNECT, namespace, auth))
        while True:
            packet = _text_packet(await self.ws.recv())
            if packet.type is eio.PacketType.PING:
                await self.ws.send("3")
            elif packet.type is eio.PacketType.CLOSE:
                raise Disconnected("the server closed the session while connecting")
            elif packet.type is eio.PacketType.MESSAGE:
                answer = self.decoder.feed_text(str(packet.data))
                if answer is None or answer.nsp != namespace:
                    continue
                if answer.type is sio.SioType.CONNECT_ERROR:
                    raise ConnectRefused(_refusal_message(answer.data))
                if answer.type is sio.SioType.CONNECT:
                    return answer.data if isinstance(answer.data, dict) else {}

    async def read(self, namespace: str, on_packet: PacketCallback) -> str:
        """Read until the connection ends or ``on_packet`` returns a reason to end it; the
        reason, in socket.io-client's words."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(loop.time() + self.window) as watchdog:
                self.watchdog = watchdog
                async for message in self.ws:
                    packet = await self._received(message)
                    if packet is None or isinstance(packet, str):
                        if packet is not None:
                            return packet
                        continue
                    if packet.nsp == namespace:
                        reason = await on_packet(packet)
                        if reason is not None:
                            return reason
        except TimeoutError:
            return "ping timeout"
        except ConnectionClosedOK:
            pass
        except (ConnectionClosed, Disconnected):
            # Disconnected: a send from a handler (an ack, a resubscription) found it closed.
            return "transport error"
        except ProtocolError as exc:
            log.warning("closing a connection the server broke: %s", exc.message)
            return "parse error"
        return "transport close"

    async def _received(self, message: str | bytes) -> sio.SioPacket | str | None:
        """A complete Socket.IO packet, a reason to end, or None (nothing for the caller)."""
        if not isinstance(message, str):
            return self.decoder.feed_binary(message)
        packet = eio.decode_text(message)
        kind = packet.type
        if kind is eio.PacketType.PING:
            if self.watchdog is not None:
                self.watchdog.reschedule(asyncio.get_running_loop().time() + self.window)
            async with self.send_lock:
                await self.ws.send("3")
            return None
        if kind is eio.PacketType.CLOSE:
            return "transport close"
        if kind is not eio.PacketType.MESSAGE:
            return None
        data = packet.data
        return self.decoder.feed_text(data) if isinstance(data, str) else \
            self.decoder.feed_binary(data)

    async def close(self) -> None:
        await self.ws.close()


async def open_link(url: str, max_message_bytes: int) -> Link:
    """A WebSocket to ``url`` and its Engine.IO handshake (no timeout: the caller sets one)."""
    # Engine.IO has its own heartbeat, and the gateway never negotiates compression.
    ws = await connect(url, compression=None, ping_interval=None, open_timeout=None,
                       close_timeout=2.0, max_size=max_message_bytes)
    try:
        opening = _text_packet(await ws.recv())
        if opening.type is not eio.PacketType.OPEN:
            raise ProtocolError(f"expected the Engine.IO open packet, got type {opening.type}")
        return Link(ws, _ping_window(str(opening.data)))
    except BaseException:
        await ws.close()
        raise


def websocket_url(url: str, path: str) -> str:
    """``http://host:port`` (or ws://) to the Engine.IO WebSocket endpoint."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an http(s) or ws(s) URL: {url!r}")
    return urlunsplit((scheme, parts.netloc, path, "EIO=4&transport=websocket", ""))


def _text_packet(message: str | bytes) -> eio.Packet:
    if not isinstance(message, str):
        raise ProtocolError("binary message before the namespace was connected")
    return eio.decode_text(message)


def _ping_window(handshake: str) -> float:
    try:
        info = json.loads(handshake)
        return (float(info["pingInterval"]) + float(info["pingTimeout"])) / 1000
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"invalid Engine.IO handshake {handshake[:80]!r}") from exc


def _refusal_message(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return str(data)
