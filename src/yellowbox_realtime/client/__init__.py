"""The Python client of the gateway: Socket.IO v5 over WebSocket, with reconnection,
connection-state recovery, subscriptions that survive reconnects and token refresh.

Used by the rider simulator and the tests::

    client = Client("http://127.0.0.1:3001", get_token)
    client.on("rider_location_update", print)
    await client.connect()
    await client.subscribe("rider_locations")
"""

from .backoff import Backoff, Jitter
from .connection import Client, TokenGetter
from .handlers import Handler

__all__ = ["Backoff", "Client", "Handler", "Jitter", "TokenGetter"]
