"""Headless Chromium for the chat page's tests, and what they measure in it.

    with chromium() as browser:                      # tests/support/chromium.py's launcher
        with tab(browser) as page:                   # JavaScript errors fail the test at close
            violations = axe(page)                   # axe-core from this folder's node_modules

Every wait has a hard timeout (WAIT_MS); nothing sleeps to pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.support.chromium import WAIT_MS, chromium, new_context

__all__ = ["ARTIFACTS", "DESKTOP", "PHONE", "WAIT_MS", "Tab", "ask", "axe", "chromium",
           "last_answer", "save_artifact", "tab"]

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = HERE.parents[2] / "test-artifacts"  # git-ignored; CI can upload it
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
DESKTOP = {"width": 1200, "height": 860}
PHONE = {"width": 390, "height": 844}

# Recorded in the page before its own scripts run: what a person would have seen go wrong.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


class Tab:
    """A page in its own browser context (fresh storage), collecting JavaScript errors and CSP
    violations; `close()` fails the test on either."""

    def __init__(self, browser: Browser, *, viewport: dict[str, int] | None = None,
                 color_scheme: str = "light", **context: Any) -> None:
        self.context = new_context(browser, viewport=viewport or DESKTOP,
                                   color_scheme=color_scheme, **context)
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def close(self) -> None:
        violations: list[str] = []
        try:
            if not self.page.is_closed():
                violations = self.page.evaluate("window.__csp || []")
        finally:
            self.context.close()
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"
        assert not violations, f"Content-Security-Policy violations: {violations}"


@contextmanager
def tab(browser: Browser, **options: Any) -> Iterator[Page]:
    """A fresh tab (see `Tab`)."""
    opened = Tab(browser, **options)
    try:
        yield opened.page
    finally:
        opened.close()


def ask(page: Page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")


def last_answer(page: Page, state: str, timeout_ms: int = WAIT_MS) -> None:
    """Wait until the last answer is in `state` (streaming, done, error, stopped, cut)."""
    page.wait_for_selector(f".msg.assistant:last-child[data-state='{state}']", timeout=timeout_ms)


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.2 A/AA violations on the page as it is now (each: id, impact, help,
    the failing nodes' selectors and summaries)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make chatpage-node` installs the chat page's npm set")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # DevTools evaluation: not page script
    result: dict[str, Any] = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})", WCAG_AA)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [(n["target"], n.get("failureSummary", "")) for n in v["nodes"]]}
            for v in result["violations"]]


def save_artifact(name: str, data: Any) -> Path:
    """Keep a measurement in test-artifacts/ (JSON)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path
