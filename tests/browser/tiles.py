"""A tile server for the map tests: PNG tiles at ``/{z}/{x}/{y}.png`` on loopback, each
request recorded, and the Web Mercator arithmetic that says which tile and pixel a
coordinate falls on (computed here, independently of the page's map library)."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

TILE_PX = 256


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG (what a tile looks like matters less than that it is one)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def world_px(latitude: float, longitude: float, zoom: int) -> tuple[float, float]:
    """Web Mercator (EPSG:3857): the coordinate's pixel in the world map at ``zoom``."""
    size = TILE_PX * 2 ** zoom
    phi = math.radians(latitude)
    x = (longitude + 180.0) / 360.0 * size
    y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * size
    return x, y


@dataclass
class TileServer:
    url: str
    requested: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def template(self) -> str:
        return self.url + "/{z}/{x}/{y}.png"


@asynccontextmanager
async def tile_server() -> AsyncIterator[TileServer]:
    tile = png(TILE_PX, TILE_PX, (214, 226, 233))
    server = TileServer("")

    async def serve(request: web.Request) -> web.Response:
        z, x, y = (int(request.match_info[k]) for k in ("z", "x", "y"))
        server.requested.append((z, x, y))
        return web.Response(body=tile, content_type="image/png")

    app = web.Application()
    app.router.add_get(r"/{z:\d+}/{x:\d+}/{y:\d+}.png", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
