"""`/docs` in a real browser (Debian's Chromium): Swagger UI works under its strict
Content-Security-Policy (no inline script, this origin only) and refuses to be framed."""

from __future__ import annotations

import requests

from standins.processes import LiveServer
from tests.support.chromium import chromium, new_context


def test_docs_headers_forbid_framing_and_foreign_scripts(offline_server: LiveServer) -> None:
    headers = requests.get(f"{offline_server.url}/docs", timeout=10).headers
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]
    assert headers["x-frame-options"] == "DENY"


def test_swagger_ui_works_under_the_policy_and_cannot_be_framed(
        offline_server: LiveServer) -> None:
    url = offline_server.url
    with chromium() as browser:
        context = new_context(browser)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/docs")
        page.wait_for_selector(".opblock-summary-path")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert {"/invoke", "/stream", "/batch", "/health"} <= {p.strip() for p in paths}
        # An operation opens and shows its request schema: the UI is alive, not just drawn.
        page.locator(".opblock-summary-path", has_text="/invoke").first.click()
        page.wait_for_selector(".opblock-body")
        assert not errors, errors
        assert not [m for m in console if "Content Security Policy" in m], console

        # Another origin framing /docs gets nothing: the browser refuses the frame.
        framer = context.new_page()
        framer.set_content(f'<iframe id="docs" src="{url}/docs" '
                           'onload="this.dataset.loaded = 1"></iframe>')
        framer.wait_for_selector("#docs[data-loaded]", state="attached")
        [child] = [f for f in framer.frames if f != framer.main_frame]
        assert child.locator("#swagger-ui").count() == 0, child.url
