"""Open the report in a real headless Chromium (Debian's), offline: no error, no request.

Keeps screenshots in ``test-artifacts/`` at the repository root. Skipped only when
``/usr/bin/chromium`` is missing (``make test`` installs it); the browser is never
downloaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="/usr/bin/chromium is missing (make test installs it)")


def test_report_opens_offline_without_errors_or_requests(run):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    url = run.report.resolve().as_uri()
    console_errors, page_errors, requests, blocked = [], [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})

            def route(request_route):
                if request_route.request.url.startswith("file://"):
                    request_route.continue_()
                else:
                    blocked.append(request_route.request.url)
                    request_route.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda message: console_errors.append(message.text)
                    if message.type == "error" else None)
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url)
            page.wait_for_selector("body[data-map-ready='true']", timeout=15_000)
            cells = page.locator("#map path.leaflet-interactive")
            assert cells.count() >= len(run.workspace.read("cell_grades"))
            page.screenshot(path=str(ARTIFACTS / "demo-report.png"))
            page.screenshot(path=str(ARTIFACTS / "demo-report-full.png"), full_page=True)
            # a popup per cell: click the top hotspot cell's polygon on the map
            top = run.result.hotspots["cell_id"].iloc[0]
            page.evaluate("""(id) => { const m = document.getElementById('map');
                m.scrollIntoView(); }""", top)
            page.locator("#map").screenshot(path=str(ARTIFACTS / "demo-report-map.png"))
            page.locator("#map path.leaflet-interactive").first.click(force=True)
            page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
            assert "PM2.5" in page.locator(".leaflet-popup-content").inner_text()
        finally:
            browser.close()
    assert page_errors == []
    assert console_errors == []
    assert blocked == []
    assert requests and all(u.startswith("file://") for u in requests), requests
