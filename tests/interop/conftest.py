from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .nodeclient import NODE_DIR, NodeDriver, node_available


@pytest.fixture
async def node_driver() -> AsyncIterator[NodeDriver]:
    if not node_available():
        pytest.skip(f"node or socket.io-client missing: run `npm ci` in {NODE_DIR}")
    driver = await NodeDriver.start()
    yield driver
    await driver.close()
