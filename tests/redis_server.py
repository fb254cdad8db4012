"""A real ``redis-server`` on a free loopback port, for the broker and cluster tests.

Started with no persistence in a temporary directory and stopped by its pid. Without
``redis-server`` the tests that need it are skipped, except under CI, where ``.ci/run``
installs it and its absence is an error.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

__all__ = ["RedisServer", "free_port", "redis_server", "system_binary"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    binary: str = ""
    directory: str = ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, *, save: bool = False) -> None:
        """Stop it; with ``save``, its data is written first (``SHUTDOWN SAVE``), so
        :meth:`start` brings it back with the data."""
        if self.process.poll() is None:
            if save:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    sock.sendall(b"SHUTDOWN SAVE\r\n")
                    sock.recv(64)  # the server closes the connection once saved
            else:
                os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)

    def start(self) -> None:
        """Start it again on the same port and directory (a restart after :meth:`stop`);
        without a saved dump it starts empty."""
        self.process = _launch(self.binary, self.port, self.directory)


def system_binary(name: str, path: str, hint: str = "") -> str:
    """A Debian package's program (on the PATH, or at ``path``, outside a user's PATH).
    Missing, the test is skipped, with ``hint`` on how to install it; under CI, where
    ``.ci/run`` installs it, the test fails."""
    binary = shutil.which(name) or (path if os.path.exists(path) else None)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed{hint}")
    return binary


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    binary = system_binary("redis-server", "/usr/bin/redis-server")
    with tempfile.TemporaryDirectory(prefix="ybrt-redis-") as directory:
        port = free_port()
        server = RedisServer(port, _launch(binary, port, directory), binary, directory)
        try:
            yield server
        finally:
            server.stop()


def _launch(binary: str, port: int, directory: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
         "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return process
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # polling a process that is starting: no event to wait on
    except BaseException:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        raise
