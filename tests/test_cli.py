"""The command line: tokens minted by `token` are accepted by what `serve` builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from yellowbox_realtime import cli
from yellowbox_realtime.app import load_dev_secret
from yellowbox_realtime.auth.dev import DevAuthenticator


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
