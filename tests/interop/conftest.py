"""Fixtures for the interop tests: a Node process running real npm socket.io-client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .nodeclient import NodeDriver, node_missing_reason


@pytest.fixture
async def node_driver() -> AsyncIterator[NodeDriver]:
    """A fresh driver.mjs process; skipped only when node or its node_modules is missing."""
    reason = node_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    driver = await NodeDriver.start()
    try:
        yield driver
    finally:
        await driver.close()
