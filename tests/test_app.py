"""The gateway's public API, where it can surprise a server written on it."""

from __future__ import annotations

import pytest

from tests.conftest import DEV_SECRET, gateway_config
from yellowbox_realtime.app import Gateway


def test_of_creates_a_namespace_that_requires_a_token_unless_told_otherwise() -> None:
    gateway = Gateway(gateway_config(), dev_secret=DEV_SECRET)
    assert gateway.of("/orders").auth_required
    assert not gateway.of("/public", auth_required=False).auth_required
    assert gateway.of("/public") is gateway.of("/public")
    assert not gateway.of("/public").auth_required  # asked again, unchanged


def test_of_with_the_flag_changes_an_existing_namespace() -> None:
    gateway = Gateway(gateway_config(), dev_secret=DEV_SECRET)
    assert gateway.main is gateway.of("/")
    assert not gateway.of("/", auth_required=False).auth_required
    assert gateway.main.auth_required is False
    assert gateway.of("/", auth_required=True).auth_required


def test_namespace_names_start_with_a_slash() -> None:
    with pytest.raises(ValueError, match="start with '/'"):
        Gateway(gateway_config(), dev_secret=DEV_SECRET).of("orders")
