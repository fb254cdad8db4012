"""What the load generator reads from /proc, checked on real loopback connections."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bench import proc
from tests.waiting import until


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(a client, the server's end of its connection), over IPv4 loopback."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        with client, server:
            yield client, server


def port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


async def test_backlog_counts_what_each_side_has_not_read(
        pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    assert proc.loopback_backlog({port(client)}) == (0, 0)
    client.sendall(b"p" * 1000)
    server.sendall(b"d" * 300)
    await until(lambda: proc.loopback_backlog({port(client)}) == (1000, 300))
    assert server.recv(400) == b"p" * 400
    assert client.recv(300) == b"d" * 300
    await until(lambda: proc.loopback_backlog({port(client)}) == (600, 0))


async def test_backlog_counts_only_the_given_clients(
        pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    with socket.create_connection(server.getsockname()) as quiet:
        client.sendall(b"p" * 100)
        server.sendall(b"d" * 100)
        await until(lambda: proc.loopback_backlog({port(client)}) == (100, 100))
        assert proc.loopback_backlog({port(quiet)}) == (0, 0)
