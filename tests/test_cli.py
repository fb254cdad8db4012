"""The command line: tokens minted by `token` are accepted by what `serve` builds."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from yellowbox_realtime import cli
from yellowbox_realtime.app import Gateway, load_dev_secret
from yellowbox_realtime.auth.dev import DevAuthenticator
from yellowbox_realtime.config import API_SCOPES, Config, ServerConfig
from yellowbox_realtime.core.policy import ROLES


async def test_token_and_serve_share_the_generated_dev_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("YELLOWBOX_STATE_DIR", str(tmp_path))
    assert cli.main(["token", "--uid", "rider-1", "--role", "rider"]) == 0
    token = capsys.readouterr().out.strip()
    secret_file = tmp_path / "dev-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    # What serve would load: the same secret, so the token verifies.
    credentials = await DevAuthenticator(load_dev_secret(tmp_path)).authenticate(token)
    assert (credentials.uid, credentials.role) == ("rider-1", "rider")


def test_invalid_configuration_is_reported_with_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[server]\nport = "eighty"\n')
    monkeypatch.setenv("YELLOWBOX_STATE_DIR", str(tmp_path))
    assert cli.main(["serve", "--config", str(config)]) == 2
    assert "server.port" in capsys.readouterr().err
    monkeypatch.setenv("YBRT_AUTH_PROVIDER", "firebase")
    assert cli.main(["token", "--uid", "x"]) == 2
    assert "auth.firebase_project_id" in capsys.readouterr().err


async def test_api_key_prints_a_key_and_the_config_lines_that_admit_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["api-key", "--name", "n8n", "--scope", "publish",
                     "--channel", "user:"]) == 0
    lines = capsys.readouterr().out.splitlines()
    key = next(line for line in lines if line.startswith("ybrt_"))
    config_text = "\n".join(line for line in lines if not line.startswith(("#", "ybrt_")))
    assert key not in config_text
    api = tomllib.loads(config_text)["api"]
    config = Config.from_mapping({"server": {"port": 0}, "api": api})
    gateway = Gateway(config, dev_secret="cli-test-secret")
    await gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            allowed = await http.post("/api/v1/users/rider-1/events",
                                      json={"event": "a", "data": 1},
                                      headers={"Authorization": f"Bearer {key}"})
            other_channel = await http.post("/api/v1/channels/alerts/events",
                                            json={"event": "a", "data": 1},
                                            headers={"Authorization": f"Bearer {key}"})
    finally:
        await gateway.stop()
    assert allowed.status_code == 202
    assert other_channel.status_code == 403


def test_api_key_refuses_an_invalid_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["api-key", "--name", "has space"]) == 2
    assert "api.keys" in capsys.readouterr().err


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own (serve installs uvloop's policy, configures
    logging and freezes the collector)."""
    return subprocess.run([sys.executable, "-m", "yellowbox_realtime.cli", *args],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "YELLOWBOX_STATE_DIR": str(tmp_path)})


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(tmp_path, "serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"yellowbox-realtime: cannot listen on 127.0.0.1 port {port}: it is in use "
        "(another gateway?)"]


@pytest.mark.parametrize(("config_text", "expected"), [
    (None, "No such file or directory"),
    ("[server\n", "Expected ']'"),
    ('[server]\nport = 0\ntls_cert_file = "{dir}/cert.pem"\ntls_key_file = "{dir}/cert.pem"\n',
     "server.tls_cert_file / server.tls_key_file: cannot load"),
], ids=["missing-file", "bad-toml", "unloadable-certificate"])
def test_serve_start_up_errors_are_one_line_and_no_traceback(
        tmp_path: Path, config_text: str | None, expected: str) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    config = tmp_path / "gateway.toml"
    if config_text is not None:
        config.write_text(config_text.replace("{dir}", str(tmp_path)))
    result = run_cli(tmp_path, "serve", "--config", str(config))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("configuration error: ")
    assert expected in line


def test_version_is_the_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"yellowbox-realtime {version('yellowbox-realtime')}\n"


def test_token_refuses_a_role_nothing_knows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("YELLOWBOX_STATE_DIR", str(tmp_path))
    assert cli.main(["token", "--uid", "x", "--role", "boss"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("token: no such role 'boss'; the roles this configuration "
                            "knows: rider, admin, operations, finance\n")


async def test_token_accepts_a_role_the_configured_policy_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("YELLOWBOX_STATE_DIR", str(tmp_path))
    config = tmp_path / "gateway.toml"
    config.write_text('[policy.subscribe]\nfleet = ["admin", "dispatcher"]\n')
    assert cli.main(["token", "--uid", "d-1", "--role", "dispatcher",
                     "--config", str(config)]) == 0
    token = capsys.readouterr().out.strip()
    credentials = await DevAuthenticator(load_dev_secret(tmp_path)).authenticate(token)
    assert credentials.role == "dispatcher"


def subcommands(parser: argparse.ArgumentParser,
                path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...],
                                                          argparse.ArgumentParser]]:
    """Every (sub)command's parser, with the words that reach it."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += subcommands(sub, (*path, name))
    return found


def help_text(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*words, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_every_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    for words, parser in subcommands(cli.build_parser()):
        text = help_text(capsys, *words)
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert f"{action.option_strings[-1]} " in text
                assert f"(default: {action.default})" in text, (words, action.dest)


def test_help_names_every_scope_and_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert f"one of {', '.join(API_SCOPES)}" in help_text(capsys, "api-key")
    assert ", ".join(ROLES) in help_text(capsys, "token")
    serve = help_text(capsys, "serve")
    assert f"(default: server.port, {ServerConfig().port})" in serve
    assert f"(default: server.host, {ServerConfig().host})" in serve


def test_outbox_status_on_a_default_install_says_the_outbox_is_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("YELLOWBOX_STATE_DIR", str(tmp_path))
    for command in (["status"], ["dead-letters"], ["replay", "1"]):
        assert cli.main(["outbox", *command]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("outbox: the outbox is off in this configuration "
                                       "(no route in [outbox.urls])")
    assert list(tmp_path.iterdir()) == []  # and nothing was created
