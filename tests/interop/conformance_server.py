"""The server the official Engine.IO and Socket.IO protocol test suites expect.

The suites (``test-suite/`` in socketio/engine.io-protocol and socketio/socket.io-protocol)
are not part of this repository; docs/testing.md says how to run them against this server:

    python -m tests.interop.conformance_server --port 3000

- ``/engine.io/``: a bare Engine.IO server that echoes every message.
- ``/socket.io/``: namespaces ``/`` and ``/custom`` without authentication; on connect each
  emits ``auth`` with the handshake's auth payload; ``message`` is echoed as
  ``message-back`` and ``message-with-ack`` is acknowledged with its own arguments.

Settings as the suites' READMEs give them: ping interval 300 ms, ping timeout 200 ms,
connect timeout 1,000 ms, max payload 1,000,000 bytes, any origin.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from yellowbox_realtime.app import Gateway, use_uvloop
from yellowbox_realtime.auth.dev import DevAuthenticator
from yellowbox_realtime.config import Config
from yellowbox_realtime.core.deadlines import Deadlines
from yellowbox_realtime.errors import GatewayError
from yellowbox_realtime.server.engineio import EngineServer, EngineSession
from yellowbox_realtime.server.namespaces import Socket

CONFIG = Config.from_mapping({
    "server": {"allowed_origins": ["*"]},
    "engineio": {"ping_interval_ms": 300, "ping_timeout_ms": 200, "max_payload": 1_000_000,
                 "connect_timeout_ms": 1000},
    # The suites test socket.io's defaults, where connection-state recovery is off (its
    # CONNECT ack then carries only the sid).
    "history": {"recovery_window_s": 0},
})


class Echo:
    """Engine.IO handler that sends every message back as it came."""

    def on_open(self, session: EngineSession) -> None:
        pass

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        if isinstance(data, str):
            session.send_text("4" + data)
        else:
            session.send_binary(data)

    def on_close(self, session: EngineSession, reason: str) -> None:
        pass

    def closing_packets(self, session: EngineSession, error: GatewayError) -> list[str]:
        return []


def build(config: Config = CONFIG) -> Gateway:
    gateway = Gateway(config, authenticator=DevAuthenticator("unused"),
                      yellowbox_events=False)
    for name in ("/", "/custom"):
        namespace = gateway.of(name, auth_required=False)

        @namespace.on_connect
        def greet(socket: Socket) -> None:
            socket.emit("auth", dict(socket.auth))

    @gateway.main.on("message")
    def message(socket: Socket, *args: Any) -> None:
        socket.emit("message-back", *args)

    @gateway.main.on("message-with-ack")
    def message_with_ack(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    return gateway


async def serve(host: str, port: int) -> None:
    gateway = build()
    loop = asyncio.get_running_loop()
    echo = EngineServer(CONFIG.engineio, CONFIG.server, Echo(), loop, Deadlines(loop))
    gateway.add_route("/engine.io/", echo)
    echo.start()
    await gateway.start(host, port)
    print(f"conformance server on {gateway.url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await echo.close()
        await gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    use_uvloop()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
