"""Clients for the memory-budget tests: raw sockets that send and never read, with a small
receive window so the kernel absorbs little and what the server holds shows at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

from tests.fuzz.test_memory import UPGRADE
from tests.wsframes import frame
from yellowbox_realtime.protocol.websocket import OP_TEXT

# The receive window of a client that does not read: what the kernel keeps for it is small.
SMALL_WINDOW = 4096


async def unread_connection(port: int, host: str = "127.0.0.1"
                            ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection whose client will read nothing (set before connecting, so the
    window stays small)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_WINDOW)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    return await asyncio.open_connection(sock=sock)


async def websocket_session(port: int, host: str = "127.0.0.1", token: str | None = None
                            ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An Engine.IO WebSocket session (its 101 and open packet read), joined to "/" with
    ``token`` (its CONNECT ack read too) or left unauthenticated; nothing is read after."""
    reader, writer = await unread_connection(port, host)
    writer.write(UPGRADE)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await asyncio.wait_for(reader.readuntil(b"}"), 5)  # the open packet
    if token is not None:
        writer.write(frame(OP_TEXT, b"40" + json.dumps({"token": token}).encode()))
        await asyncio.wait_for(reader.readuntil(b'"sid"'), 5)
        await asyncio.wait_for(reader.readuntil(b"}"), 5)
    return reader, writer


async def close(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()



def server_side_open(writer: asyncio.StreamWriter) -> bool:
    """Whether a process (the gateway's, in these tests) still has the server's end of this
    connection open. Once its socket is closed the kernel may keep sending what was queued
    (an orphan, with no inode); what the gateway's process held is gone."""
    local, remote = writer.get_extra_info("sockname")[1], writer.get_extra_info("peername")[1]
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == remote and \
                        int(fields[2].rsplit(":", 1)[1], 16) == local:
                    return fields[9] != "0"
    return False
