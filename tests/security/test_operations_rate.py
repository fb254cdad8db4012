"""No user can starve another on the operations API: a user who calls with a token has a
request rate of its own, as an API key has, and past it gets 429 with Retry-After while
other users, and keys, are served."""

from __future__ import annotations

import httpx

from tests.apiclients import api_section, bearer
from tests.conftest import MakeGateway, MakeToken, gateway_config


def user(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_user_over_its_rate_is_told_to_slow_down_and_others_are_served(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    # One request per thousand seconds after a burst of three: the fourth cannot fit.
    gateway = await make_gateway(gateway_config(api=api_section(rate_per_s=0.001, burst=3)))
    busy = user(make_token("fin-1", "finance"))
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        statuses = [(await http.get("/api/v1/dashboard", headers=busy)).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 200]
        for path in ("/api/v1/dashboard", "/api/v1/fleet"):
            refused = await http.get(path, headers=busy)
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "rate_limited"
            assert 999 <= int(refused.headers["retry-after"]) <= 1000
        # Writes draw on the same budget.
        refused = await http.post("/api/v1/orders", headers=busy,
                                  json={"orderId": "o-1", "status": "delivered", "amount": 9.5})
        assert refused.status_code == 429
        # Another user, and a key, each have their own.
        other = await http.get("/api/v1/dashboard",
                               headers=user(make_token("fin-2", "finance")))
        assert other.status_code == 200
        order = await http.post("/api/v1/orders", headers=bearer(),
                                json={"orderId": "o-2", "status": "delivered", "amount": 9.5})
        assert order.status_code == 202, order.text
