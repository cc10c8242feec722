"""`/chat` and its assets as the dev server serves them: packaged files, no CDN, strict CSP."""

from __future__ import annotations

import re

import requests

from api.chat_ui import static_dir
from standins.processes import LiveServer


def test_the_page_and_its_assets_are_served_from_the_package(offline_server: LiveServer) -> None:
    page = requests.get(f"{offline_server.url}/chat", timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == static_dir().joinpath("index.html").read_text(encoding="utf-8")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "chat/assets/chat.js" in assets and "chat/assets/chat.css" in assets
    assert not [a for a in assets if "//" in a], "no asset from another origin"
    for name, media_type in (("chat.js", "text/javascript"), ("chat.css", "text/css")):
        asset = requests.get(f"{offline_server.url}/chat/assets/{name}", timeout=30)
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(media_type)
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.content == static_dir().joinpath(name).read_bytes()


def test_only_the_pages_own_assets_are_served(offline_server: LiveServer) -> None:
    for name in ("index.html", "chat.js.map", ".chat.css", "..%5Cchat_ui.py"):
        resp = requests.get(f"{offline_server.url}/chat/assets/{name}", timeout=30)
        assert resp.status_code == 404
        assert "No chat asset named" in resp.json()["detail"]

