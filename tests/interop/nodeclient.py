"""Drive real npm socket.io-client instances (tests/interop/node/driver.mjs) from pytest.

One Node process runs any number of named clients. Commands go to its stdin as JSON lines
with a fresh ``id``; the reply with that ``id`` resolves the command. Everything else the
driver writes is a record of one client (``name`` and ``type``), kept in arrival order, so
a test can await a record that arrived before it started waiting; ``{"type": "error"}``
records without a name are driver trouble and show up in every failure message.
Buffers travel as ``{"$bin": "<base64>"}`` in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.interop.offsets import split_offset

NODE_DIR = Path(__file__).resolve().parent / "node"
DRIVER = NODE_DIR / "driver.mjs"
COMMAND_TIMEOUT_S = 10.0
_LINE_LIMIT = 256 * 1024 * 1024  # one JSON line may carry a large binary payload
_SHOWN_CHARS = 400  # per record in failure messages

Record = dict[str, Any]


def node_missing_reason() -> str | None:
    """Why the Node interop tests cannot run here, or None if they can."""
    if shutil.which("node") is None:
        return ("node is not on PATH: install Node.js 20+ and run `npm ci` in "
                "tests/interop/node")
    if not (NODE_DIR / "node_modules" / "socket.io-client" / "package.json").is_file():
        return "socket.io-client is not installed: run `npm ci` in tests/interop/node"
    return None


def node_available() -> bool:
    return node_missing_reason() is None


def _shown(record: Record) -> str:
    text = json.dumps(record)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


class NodeDriver:
    """One Node process running driver.mjs; any number of named socket.io clients."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[Record]] = {}
        self._records: dict[str, list[Record]] = {}
        self._consumed: dict[str, set[int]] = {}
        self._errors: list[Record] = []
        self._stderr: deque[str] = deque(maxlen=100)
        self._exited: str | None = None
        self._changed = asyncio.Condition()
        self._stdout_task = asyncio.create_task(self._read_stdout())
        self._stderr_task = asyncio.create_task(self._read_stderr())

    @classmethod
    async def start(cls) -> NodeDriver:
        node = shutil.which("node")
        if node is None:
            raise AssertionError(node_missing_reason())
        process = await asyncio.create_subprocess_exec(
            node, str(DRIVER), cwd=NODE_DIR, limit=_LINE_LIMIT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        return cls(process)

    # -- reading -------------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        try:
            async for line in self.process.stdout:
                await self._dispatch(line)
            reason = f"node driver exited with code {await self.process.wait()}"
        except Exception as exc:  # a broken pipe or an overlong line: report, don't hang
            reason = f"reading the node driver failed: {exc!r}"
        self._exited = reason
        for future in self._replies.values():
            if not future.done():
                future.set_exception(AssertionError(reason + self._context()))
        async with self._changed:
            self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())

    async def _dispatch(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            record = {"type": "error", "message": f"not JSON: {line[:200]!r}"}
        if not isinstance(record, dict):
            record = {"type": "error", "message": f"not an object: {line[:200]!r}"}
        if "type" not in record and "id" in record:
            future = self._replies.get(record["id"])
            if future is not None and not future.done():
                future.set_result(record)
            return
        if record.get("type") == "event" and isinstance(record.get("args"), list):
            record["args"], record["offset"] = split_offset(record["args"])
        if record.get("type") == "error" and "name" not in record:
            self._errors.append(record)
        async with self._changed:
            self._records.setdefault(str(record.get("name", "")), []).append(record)
            self._changed.notify_all()

    def _context(self) -> str:
        parts = []
        if self._errors:
            parts.append("driver errors: " + "; ".join(_shown(e) for e in self._errors))
        if self._stderr:
            parts.append("node stderr:\n  " + "\n  ".join(self._stderr))
        return "".join("\n" + part for part in parts)

    # -- commands ------------------------------------------------------------------------

    async def _request(self, fields: Record, reply_timeout: float) -> Record:
        if self._exited is not None:
            raise AssertionError(f"{self._exited}; cannot send {fields.get('cmd')}"
                                 + self._context())
        assert self.process.stdin is not None
        command_id = next(self._ids)
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._replies[command_id] = future
        line = json.dumps({"id": command_id, **fields})
        try:
            self.process.stdin.write(line.encode() + b"\n")
            await self.process.stdin.drain()
            async with asyncio.timeout(reply_timeout):
                return await future
        except TimeoutError:
            raise AssertionError(f"node driver did not answer within {reply_timeout} s: "
                                 f"{line[:_SHOWN_CHARS]}{self._context()}") from None
        except OSError as exc:  # BrokenPipeError, ConnectionResetError
            raise AssertionError(f"node driver is gone ({exc!r}): {line[:_SHOWN_CHARS]}"
                                 + self._context()) from None
        finally:
            self._replies.pop(command_id, None)

    async def command(self, cmd: str, **fields: Any) -> Record:
        """Send ``{"id", "cmd", **fields}`` and return the reply, ``ok`` true or false."""
        return await self._request({"cmd": cmd, **fields}, COMMAND_TIMEOUT_S)

    async def _ok(self, cmd: str, **fields: Any) -> Record:
        reply = await self.command(cmd, **fields)
        if not reply["ok"]:
            raise AssertionError(f"{cmd} {fields.get('name')}: {reply['error']}")
        return reply

    async def connect(self, name: str, url: str, *, nsp: str = "/", **options: Any) -> None:
        """``io(url + nsp, {forceNew: true, ...options})``; the outcome arrives as records."""
        await self._ok("connect", name=name, url=url, nsp=nsp, options=options)

    async def emit(self, name: str, event: str, *args: Any, ack: bool = False,
                   timeout_ms: int = 5000) -> list[Any] | None:
        """Emit ``event``; with ``ack``, the ack's arguments (AssertionError on timeout)."""
        reply = await self._request(
            {"cmd": "emit", "name": name, "event": event, "args": list(args), "ack": ack,
             "timeout": timeout_ms},
            max(COMMAND_TIMEOUT_S, timeout_ms / 1000 + 5))
        if not reply["ok"]:
            raise AssertionError(f"{name}: emit {event!r} failed: {reply['error']}")
        if not ack:
            return None
        result: list[Any] = reply["ack"]
        return result

    async def on_ack(self, name: str, event: str, *reply: Any) -> None:
        """Answer every ``event`` the server emits with an ack callback with ``reply``."""
        await self._ok("on_ack", name=name, event=event, reply=list(reply))

    async def set_auth(self, name: str, auth: Record) -> None:
        """The ``auth`` payload the client sends on its next (re)connection."""
        await self._ok("set_auth", name=name, auth=auth)

    async def state(self, name: str) -> Record:
        """``connected``, ``socketId``, ``transport`` and ``recovered`` of a client."""
        return await self._ok("state", name=name)

    async def disconnect(self, name: str) -> None:
        await self._ok("disconnect", name=name)

    async def reconnect(self, name: str) -> None:
        """``socket.connect()`` again after a disconnect."""
        await self._ok("reconnect", name=name)

    # -- records -------------------------------------------------------------------------

    async def expect(self, name: str, type: str, *, event: str | None = None,
                     predicate: Callable[[Record], bool] | None = None,
                     timeout: float = 10.0) -> Record:
        """The first record of ``name`` with this ``type`` (and ``event``, and satisfying
        ``predicate``) that no earlier ``expect`` returned, waiting up to ``timeout`` s."""
        consumed = self._consumed.setdefault(name, set())
        found: Record | None = None

        def ready() -> bool:
            nonlocal found
            for index, record in enumerate(self._records.get(name, [])):
                if (index not in consumed and record.get("type") == type
                        and (event is None or record.get("event") == event)
                        and (predicate is None or predicate(record))):
                    consumed.add(index)
                    found = record
                    return True
            return self._exited is not None

        wanted = f"{type} {event!r}" if event is not None else type
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(ready)
        except TimeoutError:
            raise AssertionError(
                f"{name}: no {wanted} record within {timeout} s; records so far:\n  "
                + "\n  ".join(_shown(r) for r in self._records.get(name, []))
                + self._context()) from None
        if found is None:
            raise AssertionError(f"{name}: no {wanted} record and {self._exited}; records:\n  "
                                 + "\n  ".join(_shown(r) for r in self._records.get(name, []))
                                 + self._context())
        return found

    def records(self, name: str) -> list[Record]:
        """Every record of client ``name`` so far, in order, consumed or not."""
        return list(self._records.get(name, []))

    @property
    def errors(self) -> list[Record]:
        """``{"type": "error"}`` records: lines the driver could not run, uncaught errors."""
        return list(self._errors)

    async def close(self) -> None:
        """Disconnect every client and stop Node (killing it if it does not exit)."""
        if self.process.returncode is None:
            try:
                if self._exited is None:
                    await self._request({"cmd": "exit"}, 5)
                async with asyncio.timeout(5):
                    await self.process.wait()
            except (AssertionError, TimeoutError):
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        for task in (self._stdout_task, self._stderr_task):
            try:
                async with asyncio.timeout(5):
                    await task
            except TimeoutError:
                pass  # already cancelled by the timeout
