"""The demo's geofences: the simulator's districts, a depot and a no-go area, put on the
gateway through its HTTP API so the riders crossing them raise geofence events and alerts.

Business Bay is declared a no-go area (road works, say) because crossing riders pass it
within the first minute; entering it is a geofence breach. The others are service zones and
a depot, whose enter and exit events the dashboard shows without alerting.
"""

from __future__ import annotations

from typing import Any

import httpx

from .routes import AREAS

NO_GO = "Business Bay"
# On Al Khail Road, where one of the routes passes.
DEPOT = {"id": "al-quoz-depot", "name": "Al Quoz depot", "kind": "depot",
         "circle": {"latitude": 25.1450, "longitude": 55.2370, "radius": 400.0}}


def demo_fences() -> list[dict[str, Any]]:
    fences = [{
        "id": area.name.lower().replace(" ", "-"),
        "name": f"{area.name} (road works)" if area.name == NO_GO else area.name,
        "kind": "no_go" if area.name == NO_GO else "zone",
        "polygon": [{"latitude": lat, "longitude": lon} for lat, lon in area.vertices],
    } for area in AREAS]
    return [*fences, DEPOT]


async def install_fences(url: str, token: str, fences: list[dict[str, Any]],
                         *, timeout_s: float = 10.0) -> int:
    """PUT each fence (added or replaced, so a second run changes nothing); returns how many
    the gateway took. Raises ``httpx.HTTPError`` (or a status error) when it refused."""
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        for fence in fences:
            body = {k: v for k, v in fence.items() if k != "id"}
            response = await http.put(f"/api/v1/geofences/{fence['id']}", json=body)
            response.raise_for_status()
    return len(fences)
