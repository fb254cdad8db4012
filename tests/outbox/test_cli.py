"""``yellowbox-realtime outbox status | dead-letters | replay``, on the SQLite file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from yellowbox_realtime import cli
from yellowbox_realtime.outbox.store import NewDelivery, OutboxStore


def prepare(path: Path) -> None:
    """Two dead letters and one delivery waiting, as a gateway would leave them."""
    async def fill() -> None:
        store = OutboxStore(path, max_backlog=100)
        await store.open()
        await store.add([[NewDelivery("n8n", f"k:{n}", json.dumps({"id": f"k:{n}"}))]
                         for n in (1, 2, 3)], now=1000.0)
        first, second = await store.claim(2, now=1000.0)
        await store.dead(first.id, 1, 404, "HTTP 404 from http://127.0.0.1:1/", now=1001.0)
        await store.dead(second.id, 12, None, "ConnectError", now=1002.0)
        await store.close()
    asyncio.run(fill())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_status_dead_letters_and_replay(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "outbox.sqlite3"
    prepare(path)
    code, out, _ = run(capsys, "outbox", "--path", str(path), "status")
    assert code == 0
    status = json.loads(out)
    assert (status["backlog"], status["deadLetters"], status["path"]) == (1, 2, str(path))
    assert status["oldestAgeS"] > 0

    code, out, _ = run(capsys, "outbox", "--path", str(path), "dead-letters")
    assert code == 0
    letters = [json.loads(line) for line in out.splitlines()]
    assert [(d["eventId"], d["attempts"], d["lastStatus"]) for d in letters] == [
        ("k:2", 12, None), ("k:1", 1, 404)]
    assert letters[1]["body"] == {"id": "k:1"}
    assert letters[1]["failedAt"] == "1970-01-01T00:16:41.000Z"

    code, out, _ = run(capsys, "outbox", "--path", str(path), "dead-letters", "--limit", "1")
    assert [json.loads(line)["eventId"] for line in out.splitlines()] == ["k:2"]

    code, out, _ = run(capsys, "outbox", "--path", str(path), "replay", str(letters[1]["id"]))
    assert code == 0
    assert json.loads(out)["deadLetter"] == letters[1]["id"]
    status = json.loads(run(capsys, "outbox", "--path", str(path), "status")[1])
    assert (status["backlog"], status["deadLetters"]) == (2, 1)

    code, _, err = run(capsys, "outbox", "--path", str(path), "replay", str(letters[1]["id"]))
    assert code == 1
    assert f"no dead letter {letters[1]['id']}" in err


def test_the_path_comes_from_the_configuration(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "from-config.sqlite3"
    prepare(path)
    config = tmp_path / "gateway.toml"
    config.write_text(f'[outbox]\npath = {json.dumps(str(path))}\n')
    code, out, _ = run(capsys, "outbox", "--config", str(config), "status")
    assert code == 0
    assert json.loads(out)["deadLetters"] == 2


def test_a_missing_file_is_reported_and_not_created(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "none.sqlite3"
    code, _, err = run(capsys, "outbox", "--path", str(path), "status")
    assert code == 1
    assert "no such file" in err
    assert not path.exists()


def test_serve_stops_with_a_clear_error_when_the_outbox_file_cannot_be_opened(
        tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[server]\nport = 0\n[auth]\ndev_secret = "tests-only-dev-secret-0123456789abcdef"\n'
        f'[outbox]\npath = {json.dumps(str(tmp_path))}\n'  # a directory, not a file
        '[outbox.urls]\nn8n = "http://127.0.0.1:9/webhook"\n'
        '[outbox.secrets]\nn8n = "s"\n')
    # In a process of its own: serve installs uvloop's policy and configures logging.
    result = subprocess.run([sys.executable, "-m", "yellowbox_realtime.cli", "serve",
                             "--config", str(config)], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 1
    assert f"outbox store {tmp_path}: unable to open database file" in result.stderr
    assert "Traceback" not in result.stderr
