"""The README's quickstart runs as a newcomer runs it: the set-up's ``yellowbox-realtime
serve``, its token lines through the real ``yellowbox-realtime token``, then its Python and
Node snippets, written out verbatim and started by its own shell lines. Each must exit 0 on
its own and print what the README says it prints.

The blocks are found by the HTML comment before their fence (``<!-- quickstart: NAME -->``).
What differs from a newcomer's terminals, all visible below: ``.venv/bin/`` is this
interpreter's directory; the gateway listens on a free port (``YBRT_SERVER_PORT=0``), which
the snippets read from ``YELLOWBOX_URL`` as the README says; and the install lines are not
run (no registry is reached from a test): the packages they name must be the ones installed
here, with no extras."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from tests.interop.nodeclient import NODE_DIR, node_missing_reason
from tests.processes import LISTENING, START_TIMEOUT_S, GatewayProcess

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"^<!-- quickstart: ([\w-]+) -->\n```\w*\n(.*?)^```", re.S | re.M)
PIP_INSTALL = re.compile(r"^\.venv/bin/pip install ([\w -]+)$", re.M)
NPM_INSTALL = re.compile(r"^npm install ([\w@./ -]+)$", re.M)
# A bound on failing only; the snippets give up on their own after 10 s.
RUN_TIMEOUT_S = 60.0


def quickstart() -> dict[str, str]:
    blocks = dict(BLOCK.findall(README.read_text()))
    expected = {"setup", "tokens", "python-run", "python", "python-output", "node-run", "node"}
    assert expected <= set(blocks), f"README.md is missing {expected - set(blocks)}"
    return blocks


def venv_bin() -> Path:
    """Where this interpreter's scripts are: what ``.venv/bin`` is for the newcomer."""
    directory = Path(sys.executable).parent
    assert (directory / "yellowbox-realtime").is_file(), "yellowbox-realtime is not installed"
    return directory


def printed_as_documented(documented: str, printed: str) -> bool:
    """Each documented line matches the printed one; ``...`` stands for any text."""
    patterns = [re.escape(line).replace(re.escape("..."), ".*")
                for line in documented.splitlines()]
    lines = printed.splitlines()
    return len(lines) == len(patterns) and all(
        re.fullmatch(pattern, line) for pattern, line in zip(patterns, lines, strict=True))


async def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env, cwd=cwd)
    try:
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{argv} did not exit within {RUN_TIMEOUT_S:g} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def shell(script: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    return await run(["bash", "-eu", "-c", script.replace(".venv/bin/", f"{venv_bin()}/")],
                     env, cwd)


async def serve_as_set_up(state_dir: Path) -> GatewayProcess:
    """The set-up line's last command, as it stands, in the repository, on a free port."""
    command = quickstart()["setup"].split("&&")[-1].strip()
    assert command == ".venv/bin/yellowbox-realtime serve", command
    process = await asyncio.create_subprocess_exec(
        *shlex.split(command.replace(".venv/bin/", f"{venv_bin()}/")), cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "YELLOWBOX_STATE_DIR": str(state_dir), "YBRT_SERVER_PORT": "0"})
    assert process.stderr is not None
    seen: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), START_TIMEOUT_S)).decode()
            assert line, "serve exited:\n" + "".join(seen)
            seen.append(line)
            if found := LISTENING.search(line):
                return GatewayProcess(process, found.group(1))
    except BaseException:
        if process.returncode is None:
            process.kill()
        await process.wait()
        raise


async def in_second_terminal(script: str, tmp_path: Path) -> tuple[int, str, str]:
    """Run ``script`` in the newcomer's second terminal, in ``tmp_path``: ``serve`` runs as
    the set-up started it and the README's token lines have run."""
    gateway = await serve_as_set_up(tmp_path / "state")
    try:
        env = {**os.environ, "YELLOWBOX_STATE_DIR": str(tmp_path / "state"),
               "YELLOWBOX_URL": gateway.url, "HOME": str(tmp_path / "home")}
        code, out, err = await shell(quickstart()["tokens"] + "\nenv -0\n", env, ROOT)
        assert code == 0, err
        exported = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
        for name in ("OPS_TOKEN", "RIDER_TOKEN"):
            assert exported.get(name, "").count(".") == 2, f"{name} is not a token: {err}"
        return await shell(script, exported, tmp_path)
    finally:
        assert await gateway.end() == 0


# These tests are synchronous and run one event loop of their own: the gateway and the
# snippets are processes, so running them once per test loop (asyncio, uvloop) would only
# repeat the same thing.
def test_the_python_snippet_prints_the_riders_position_and_exits(tmp_path: Path) -> None:
    blocks = quickstart()
    install = PIP_INSTALL.search(blocks["python-run"])
    assert install is not None, "the Python install line names packages without extras"
    for package in install.group(1).split():
        importlib.metadata.distribution(package)  # PackageNotFoundError: not a real package
    script = blocks["python-run"].replace(install.group(0), "")
    written = re.search(r"python (\S+\.py)$", script, re.M)
    assert written is not None
    (tmp_path / written.group(1)).write_text(blocks["python"])
    code, out, err = asyncio.run(in_second_terminal(script, tmp_path))
    assert (code, err) == (0, ""), out
    assert printed_as_documented(blocks["python-output"], out), out


def test_the_node_snippet_prints_the_riders_position_and_exits(tmp_path: Path) -> None:
    reason = node_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    blocks = quickstart()
    install = NPM_INSTALL.search(blocks["node-run"])
    assert install is not None
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    assert set(install.group(1).split()) <= set(pinned)
    # The install line becomes a link to the pinned install of the interop tests.
    script = blocks["node-run"].replace(install.group(0), f"ln -s {NODE_DIR}/node_modules .")
    written = re.search(r"^node (\S+\.mjs)$", script, re.M)
    assert written is not None
    directory = re.search(r"^mkdir -p (\S+) ", script, re.M)
    assert directory is not None
    target = Path(directory.group(1).replace("~", str(tmp_path / "home"), 1))
    target.mkdir(parents=True)
    (target / written.group(1)).write_text(blocks["node"])
    code, out, err = asyncio.run(in_second_terminal(script, tmp_path))
    assert (code, err) == (0, ""), out
    assert "subscribed: { ok: true, channel: 'rider_locations' }" in out, out
    assert re.search(r"published: \{ ok: true, timestamp: '[^']+Z' \}", out), out
    seen = out[out.index("operations saw:"):]
    assert "riderId: 'rider-1'" in seen, out
    assert "latitude: 25.2048" in seen, out


def test_printed_as_documented_needs_every_line() -> None:
    documented = "a: {'x': '...'}\nb: 1"
    assert printed_as_documented(documented, "a: {'x': 'anything'}\nb: 1")
    assert not printed_as_documented(documented, "a: {'x': 'anything'}")
    assert not printed_as_documented(documented, "a: {'y': 'z'}\nb: 1")
