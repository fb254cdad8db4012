"""The seed's Socket.IO server behaviour on python-socketio's AsyncServer under uvicorn.

Run by the harness as ``python python_socketio_server.py PORT SECRET``. Authentication accepts
the gateway's dev tokens (HS256, checked with the shared secret through PyJWT); the role comes
from the ``role`` claim. Settings are python-socketio's and uvicorn's defaults, with uvloop and
httptools.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import jwt
import socketio
import uvicorn

RIDER_LOCATIONS = "rider_locations"


def build(secret: str) -> Any:
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
    roles: dict[str, tuple[str, str]] = {}

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = jwt.decode(token or "", secret, algorithms=["HS256"],
                                options={"verify_aud": False})
        except jwt.PyJWTError as exc:
            raise socketio.exceptions.ConnectionRefusedError("Authentication failed") from exc
        role = str(claims.get("role") or "rider")
        roles[sid] = (str(claims["sub"]), role)
        await sio.enter_room(sid, f"role_{role}")

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, *_: Any) -> None:
        roles.pop(sid, None)

    @sio.event  # type: ignore[untyped-decorator]
    async def subscribe_rider_locations(sid: str, *_: Any) -> None:
        if roles.get(sid, ("", ""))[1] in ("admin", "operations"):
            await sio.enter_room(sid, RIDER_LOCATIONS)

    @sio.event  # type: ignore[untyped-decorator]
    async def subscribe_expense_updates(sid: str, *_: Any) -> None:
        if roles.get(sid, ("", ""))[1] in ("admin", "finance", "operations"):
            await sio.enter_room(sid, "expense_updates")

    @sio.event  # type: ignore[untyped-decorator]
    async def publish_location(sid: str, data: Any = None, *_: Any) -> None:
        uid, role = roles.get(sid, ("", ""))
        if role == "rider" and isinstance(data, dict):
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            update = {"riderId": uid, **data, "timestamp": stamp}
            await sio.emit("rider_location_update", update, room=RIDER_LOCATIONS)

    return socketio.ASGIApp(sio)


def main() -> None:
    port, secret = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(build(secret), host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                ws="websockets", log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
