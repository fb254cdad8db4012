"""Fixtures for the real peers several test directories drive: the npm socket.io-client (a
Node process running ``tests/interop/node/driver.mjs``) and the n8n stand-in that receives
the outbox's deliveries. Loaded for every test by ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.interop.nodeclient import NodeDriver, node_missing_reason
from tests.outbox.receiver import SECRET, Receiver


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


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An n8n stand-in on loopback checking the signature with :data:`SECRET`."""
    receiver = Receiver(SECRET)
    await receiver.start()
    yield receiver
    await receiver.close()
