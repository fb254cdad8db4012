"""Drive real npm socket.io-client instances (tests/interop/node/driver.mjs) from pytest.

One Node process runs any number of named clients. Every record a client produces is kept
in order, so a test can await a record that arrived before it started waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).parent / "node"
DRIVER = NODE_DIR / "driver.mjs"

Record = dict[str, Any]


def node_available() -> bool:
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "socket.io-client"
                                                 ).is_dir()


class NodeDriver:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[Record]] = {}
        self._records: dict[str, list[Record]] = {}
        self._consumed: dict[str, set[int]] = {}
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls) -> NodeDriver:
        process = await asyncio.create_subprocess_exec(
            "node", str(DRIVER), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, cwd=NODE_DIR)
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            record: Record = json.loads(line)
            if "id" in record and "type" not in record:
                future = self._replies.pop(record["id"], None)
                if future is not None and not future.done():
                    future.set_result(record)
                continue
            async with self._changed:
                self._records.setdefault(record.get("name", ""), []).append(record)
                self._changed.notify_all()

    async def command(self, cmd: str, **fields: Any) -> Record:
        assert self.process.stdin is not None
        command_id = next(self._ids)
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._replies[command_id] = future
        self.process.stdin.write(json.dumps({"id": command_id, "cmd": cmd, **fields}).encode()
                                 + b"\n")
        await self.process.stdin.drain()
        try:
            return await asyncio.wait_for(future, 10)
        except TimeoutError:
            raise AssertionError(f"node driver did not answer {cmd} {fields}") from None

    async def connect(self, name: str, url: str, *, nsp: str = "/", **options: Any) -> None:
        reply = await self.command("connect", name=name, url=url, nsp=nsp, options=options)
        assert reply["ok"], reply

    async def emit(self, name: str, event: str, *args: Any, ack: bool = False,
                   timeout_ms: int = 5000) -> list[Any] | None:
        reply = await self.command("emit", name=name, event=event, args=list(args), ack=ack,
                                   timeout=timeout_ms)
        assert reply["ok"], reply
        return reply.get("ack") if ack else None

    async def expect(self, name: str, kind: str, *, event: str | None = None,
                     predicate: Callable[[Record], bool] | None = None,
                     timeout: float = 10.0) -> Record:
        """The first record of ``kind`` (and ``event``) that no earlier expect returned."""
        consumed = self._consumed.setdefault(name, set())

        def find() -> Record | None:
            for index, record in enumerate(self._records.get(name, [])):
                if index not in consumed and record["type"] == kind \
                        and (event is None or record.get("event") == event) \
                        and (predicate is None or predicate(record)):
                    consumed.add(index)
                    return record
            return None

        async with self._changed:
            try:
                found = await asyncio.wait_for(self._changed.wait_for(find), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"{name}: no {kind} {event or ''} within {timeout} s; saw "
                    f"{self._records.get(name, [])}") from None
        assert found is not None
        return found

    def records(self, name: str) -> list[Record]:
        return list(self._records.get(name, []))

    async def close(self) -> None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.command("exit"), 5)
                await asyncio.wait_for(self.process.wait(), 5)
            except (AssertionError, TimeoutError, ConnectionError):
                self.process.kill()
                await self.process.wait()
        self._reader.cancel()
