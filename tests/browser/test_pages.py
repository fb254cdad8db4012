"""The test-page route: what a site serves besides the gateway's own endpoints."""

from __future__ import annotations

import httpx

from .pages import SOCKET_IO_CLIENT, SOCKET_IO_CLIENT_PATH, Site


async def test_a_registered_page_is_served_uncached_from_the_sites_origin(site: Site) -> None:
    url = site.serve_html("nested/probe.html", "<p>probe</p>")
    assert url == site.origin + "/_test/nested/probe.html"
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.text == "<p>probe</p>"


async def test_the_socket_io_client_is_served_and_unknown_paths_are_404(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.origin) as client:
        script = await client.get(SOCKET_IO_CLIENT_PATH)
        missing = await client.get("/_test/nothing.html")
        posted = await client.post(SOCKET_IO_CLIENT_PATH, content=b"x")
        health = await client.get("/healthz")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.content == SOCKET_IO_CLIENT.read_bytes()
    assert (missing.status_code, posted.status_code) == (404, 404)
    # The gateway's own routes are still there beside the test pages.
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
