"""Test pages served from a gateway's own origin, so a page's requests are same-origin.

:class:`TestPages` is a streaming route (``Gateway.add_route``) under ``/_test/``: a test
registers any HTML (or other text) at a path and opens the URL in the browser. The browser
build of the npm ``socket.io-client`` is always there at ``/_test/socket.io.min.js``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yellowbox_realtime.app import Gateway
from yellowbox_realtime.errors import NotFound
from yellowbox_realtime.server.http import HttpConnection, Request

PREFIX = "/_test/"
SOCKET_IO_CLIENT = (Path(__file__).resolve().parent.parent / "interop" / "node"
                    / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js")
SOCKET_IO_CLIENT_PATH = PREFIX + "socket.io.min.js"
HTML = "text/html; charset=utf-8"


def socket_io_client_missing_reason() -> str | None:
    if not SOCKET_IO_CLIENT.is_file():
        return (f"{SOCKET_IO_CLIENT.name} is missing: run `npm ci` in tests/interop/node "
                "(scripts/test.sh does)")
    return None


@dataclass
class TestPages:
    """Fixed responses by path; anything else under the prefix is 404."""

    __test__ = False  # not a test class, despite the name

    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def add(self, path: str, body: str | bytes, content_type: str = HTML) -> str:
        """Serve ``body`` at ``PREFIX + path`` from now on; returns the absolute path."""
        full = PREFIX + path.lstrip("/")
        self.files[full] = (content_type, body.encode() if isinstance(body, str) else body)
        return full

    def handle(self, request: Request, conn: HttpConnection) -> None:
        found = self.files.get(request.path)
        if request.method != "GET" or found is None:
            conn.respond_error(NotFound(f"no test page at {request.method} {request.path}"))
            return
        content_type, body = found
        # Each test registers its own pages; a cached copy from an earlier test must not win.
        conn.respond(200, [("Content-Type", content_type), ("Cache-Control", "no-store")], body)


@dataclass
class Site:
    """A started gateway that also serves test pages from its origin."""

    gateway: Gateway
    pages: TestPages

    @property
    def origin(self) -> str:
        """What a browser sends as ``Origin`` from these pages."""
        return self.gateway.url

    def serve_html(self, path: str, html: str) -> str:
        """Serve ``html`` at ``/_test/<path>``; returns the URL to open."""
        return self.origin + self.pages.add(path, html)


def install_pages(gateway: Gateway) -> TestPages:
    """Add the test-page route (with the socket.io client) to a gateway not yet started."""
    reason = socket_io_client_missing_reason()
    if reason is not None:
        raise AssertionError(reason)
    pages = TestPages()
    pages.add(SOCKET_IO_CLIENT_PATH.removeprefix(PREFIX), SOCKET_IO_CLIENT.read_bytes(),
              "text/javascript; charset=utf-8")
    gateway.add_route(PREFIX, pages)
    return pages
