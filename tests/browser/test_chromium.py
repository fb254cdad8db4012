"""Launching the session's chromium, and the messages when it cannot start."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .chromium import Chromium


def test_a_missing_chromium_fails_with_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"apt-get install -y chromium"):
        Chromium.launch(tmp_path / "profile", executable=tmp_path / "no-such-chromium")


def test_a_browser_that_exits_without_an_endpoint_fails_with_its_output(
        tmp_path: Path) -> None:
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(AssertionError, match=r"(?s)exit code 3.*cannot open display"):
        Chromium.launch(tmp_path / "profile", executable=fake)


@pytest.mark.browser
def test_the_session_browser_listens_on_loopback_only(chromium: Chromium) -> None:
    endpoint = urlsplit(chromium.cdp_url)
    assert endpoint.hostname == "127.0.0.1"
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    try:
        connection.request("GET", "/json/version")
        version = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    assert "HeadlessChrome" in version["User-Agent"]
    assert version["webSocketDebuggerUrl"] == chromium.cdp_url
