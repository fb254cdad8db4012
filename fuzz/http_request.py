"""The HTTP/1.1 front's request handling (server/http.py: httptools, header and body
limits, pipelining) over a stand-in transport, in arbitrary reads. Every request is either
answered by the route or refused with a status, and the connection is closed after a
refusal."""

from __future__ import annotations

from typing import Any

from fuzz.common import instrumented, main, pieces

with instrumented():
    from yellowbox_realtime.config import ServerConfig
    from yellowbox_realtime.server.http import HttpConnection, HttpFront, Request

CONFIG = ServerConfig(max_header_bytes=2048, max_headers=20, max_body_bytes=4096,
                      access_log=False)


class Transport:
    """Just what the front calls on a transport."""

    def __init__(self) -> None:
        self.written = b""
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        assert not self.closing or not data, "written after close"
        self.written += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0  # the client reads everything at once

    def set_protocol(self, protocol: Any) -> None:
        raise AssertionError("no route here upgrades")


class Answer:
    def handle(self, request: Request, conn: HttpConnection) -> None:
        conn.respond(200, [("Content-Type", "text/plain")], request.body[:16])


FRONT = HttpFront(CONFIG, [], Answer())


def test_one_input(data: bytes) -> None:
    transport = Transport()
    conn = HttpConnection(FRONT)
    conn.connection_made(transport)  # type: ignore[arg-type]
    for piece in pieces(data):
        if transport.closing:
            break
        conn.data_received(piece)
    conn.connection_lost(None)
    assert transport.written == b"" or transport.written.startswith(b"HTTP/1.1 ")


if __name__ == "__main__":
    main(test_one_input)
