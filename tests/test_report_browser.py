"""A real-browser test of the HTML report: headless Chromium loads the page from disk.

Drives Debian's ``chromium`` (``/usr/bin/chromium``, or ``$CHROMIUM``) with
Playwright's Python client; no browser is downloaded. Outside CI the test
skips when no browser is installed; in CI (``CI=true``) it must run, and
``.ci/run`` installs Debian's package when it is missing.

The screenshots are test artifacts, written to ``$REPORT_ARTIFACTS`` (default
``build/test-artifacts/``, which git ignores).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("REPORT_ARTIFACTS") or ROOT / "build" / "test-artifacts")


def _need(condition: bool, why: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(f"{why} (CI=true: the browser test must run)")
        pytest.skip(why)


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright is not installed: pip install playwright")
    return sync_playwright


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example campaign's report, written to disk."""
    pytest.importorskip("jinja2", reason='the HTML report needs the "report" extra')
    pytest.importorskip("matplotlib", reason='the HTML report needs the "report" extra')
    from smscampaign.htmlreport import write_html_report
    from test_report_html import THRESHOLDS, simulated_campaign

    storage, now = simulated_campaign()
    path = tmp_path_factory.mktemp("report") / "report.html"
    return write_html_report(storage, "spring", path, now=now, thresholds=THRESHOLDS)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium, started from a new empty profile."""
    _need(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: apt-get install chromium")
    sync_playwright = _playwright()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=ARGS, headless=True
        )
        try:
            yield context
        finally:
            context.close()


class _Watched:
    """A page with every console error, page error and outgoing request recorded."""

    def __init__(self, context: Any, width: int) -> None:
        self.page = context.new_page()
        self.page.set_viewport_size({"width": width, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.requests.append(url)
            route.abort()


class TestInChromium:
    """The page renders its charts in a real browser, offline, without errors."""

    def test_desktop(self, browser: Any, page_file: Path) -> None:
        watched = _Watched(browser, 1280)
        page = watched.page
        page.goto(page_file.as_uri(), wait_until="load")
        assert page.title().startswith("Spring survey")
        charts = page.locator("figure.chart svg[role=img]")
        # Three steps (doughnut and funnel each), thresholds, per day, skips, failures.
        assert charts.count() == 10
        for index in range(charts.count()):
            svg = charts.nth(index)
            box = svg.bounding_box()
            assert box is not None
            assert box["width"] > 100
            assert box["height"] > 50
            assert svg.locator("path").count() > 0
            assert svg.get_attribute("aria-labelledby")
        # The doughnut's wedges are drawn (filled paths with a hatch pattern).
        assert page.locator("#doughnut-invite svg pattern").count() > 0
        assert page.locator("#doughnut-invite table tbody tr").count() >= 2
        assert "Delivered" in page.locator("#summary").inner_text()
        assert not watched.errors, watched.errors
        assert not watched.requests, watched.requests
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-desktop.png"), full_page=True)
        page.close()

    def test_phone_width(self, browser: Any, page_file: Path) -> None:
        watched = _Watched(browser, 390)
        page = watched.page
        page.goto(page_file.as_uri(), wait_until="load")
        # Nothing is wider than the screen but the tables that scroll on purpose.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        assert not watched.errors, watched.errors
        assert not watched.requests, watched.requests
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
        page.close()

    def test_print_layout(self, browser: Any, page_file: Path) -> None:
        watched = _Watched(browser, 1280)
        page = watched.page
        page.goto(page_file.as_uri(), wait_until="load")
        page.emulate_media(media="print")
        assert page.locator("nav.toc").is_hidden()
        assert page.locator("figure.chart svg").first.is_visible()
        page.close()

    def test_a_request_would_be_caught(self, browser: Any, tmp_path: Path) -> None:
        # The net is real: a page that asks for a remote file is seen and stopped.
        probe = tmp_path / "probe.html"
        probe.write_text(
            '<!DOCTYPE html><html><body><img src="https://example.invalid/x.png"></body></html>',
            encoding="utf-8",
        )
        watched = _Watched(browser, 800)
        watched.page.goto(probe.as_uri(), wait_until="load")
        assert watched.requests == ["https://example.invalid/x.png"]
        watched.page.close()
