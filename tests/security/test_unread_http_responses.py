"""A client that pipelines requests and never reads the responses stops being read: the
gateway holds about one response for it, aborts it at the idle deadline, and serves
everyone else meanwhile. TCP connections count per address while they speak HTTP."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx

from tests.conftest import MakeGateway, gateway_config
from tests.limits.support import V4, V6, dual_stack_gateway, url
from tests.processes import start_gateway, write_config
from tests.security.support import close, unread_connection
from tests.waiting import until

BUFFER = 256 * 1024
REQUEST = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"  # ~25 KB answered


async def test_pipelined_requests_never_read_hold_one_response_and_end_at_the_deadline(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(
        server={"max_buffer_bytes": BUFFER, "idle_timeout_s": 1.0}))
    front = gateway.front
    assert front is not None
    _, writer = await unread_connection(gateway.port)
    # 12,000 requests (552 KB) would be 300 MB of answers.
    writer.write(REQUEST * 12_000)
    await until(lambda: bool(front.paused) or gateway.held_bytes()["unsent"] > BUFFER)
    assert gateway.held_bytes()["unsent"] <= BUFFER
    async with httpx.AsyncClient() as other:
        assert (await other.get(f"{gateway.url}/healthz")).status_code == 200
    # It did not read within idle_timeout_s: aborted, and what it was owed is gone.
    await until(lambda: not front.connections and not front.paused)
    assert gateway.held_bytes()["unsent"] == 0
    await close(writer)


async def test_http_connections_count_per_address() -> None:
    async with dual_stack_gateway(limits={"max_http_connections_per_ip": 20}) as gateway:
        port = next(port for host, port in gateway.addresses if host == V4)
        idle = [await unread_connection(port) for _ in range(20)]
        reader, writer = await asyncio.open_connection(V4, port)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 429 ")
        assert b"Retry-After: 5" in head
        body = json.loads(await asyncio.wait_for(reader.read(), 5))
        assert body["error"]["code"] == "too_many_connections"
        assert gateway.limits.http_by_ip == {V4: 20}
        # Another address is served meanwhile, and the count follows the connections.
        async with httpx.AsyncClient() as other:
            assert (await other.get(f"{url(gateway, V6)}/healthz")).status_code == 200
        for _, idle_writer in idle:
            await close(idle_writer)
        await close(writer)
        await until(lambda: not gateway.limits.http_by_ip)


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1)) * 1024


def unread_connections(metrics: str) -> int:
    found = re.search(r"^ybrt_http_unread_connections (\d+)", metrics, re.MULTILINE)
    return int(found.group(1)) if found else 0


async def test_eight_unread_connections_leave_the_process_rss_where_it_was(
        tmp_path: Path) -> None:
    """The report's case on a real ``serve``: 8 x 12,000 pipelined requests (4.4 MB sent)
    took it from 67 to 700 MB."""
    config = tmp_path / "gateway.toml"
    write_config(config, {"server": {"allowed_origins": ["*"], "access_log": False}})
    gateway = await start_gateway(config, tmp_path / "state")
    try:
        async with httpx.AsyncClient() as other:
            async def scrape() -> str:
                return (await other.get(f"{gateway.url}/metrics")).text

            await other.get(f"{gateway.url}/api/v1/openapi.json")  # its caches, warm
            before = rss_bytes(gateway.process.pid)
            writers = []
            for _ in range(8):
                _, writer = await unread_connection(gateway.address[1])
                writer.write(REQUEST * 12_000)
                writers.append(writer)
            bound = 32 * 1024 * 1024
            async with asyncio.timeout(30):
                # Each scrape is another client served meanwhile.
                while unread_connections(await scrape()) < 8 and \
                        rss_bytes(gateway.process.pid) - before <= bound:
                    pass
            assert rss_bytes(gateway.process.pid) - before <= bound
            assert (await other.get(f"{gateway.url}/healthz")).status_code == 200
            for writer in writers:
                await close(writer)
    finally:
        await gateway.end()
