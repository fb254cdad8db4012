"""The command line: tokens minted by `token` are accepted by what `serve` builds."""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx
import pytest

from yellowbox_realtime import cli
from yellowbox_realtime.app import Gateway, load_dev_secret
from yellowbox_realtime.auth.dev import DevAuthenticator
from yellowbox_realtime.config import Config


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
    config.write_text('[dashboard]\ntile_url = "https://tiles.invalid/osm.png"\n')
    assert cli.main(["serve", "--config", str(config)]) == 2
    assert "dashboard.tile_url: the template has no {z}, {x}, {y}" in capsys.readouterr().err
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
