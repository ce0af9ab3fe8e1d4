"""The pages in a real browser: Playwright (Python) driving Debian's chromium.

Logs in, opens the map, clicks a hotspot cell, opens its dossier, acknowledges an
alert there, records a finding from a phone-sized page, and checks that another
township's grid head sees none of it. Every request the browser makes must go
to 127.0.0.1 (a closed bureau network). Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sourcegrid.sample.web_workspace import SAMPLE_PASSWORD
from tests.web.conftest import ARTIFACTS, CELL_A, fresh_alert

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is missing (make test installs it)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        handle = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield handle
        handle.close()


class Watched:
    """A browser context that records every request that leaves 127.0.0.1."""

    def __init__(self, browser, **options) -> None:
        self.context = browser.new_context(locale="zh-CN", **options)
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.context.on("request", self._request)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.failed.append(str(error)))

    def _request(self, request) -> None:
        url = request.url
        if not (url.startswith("http://127.0.0.1:") or url.startswith(("data:", "blob:"))):
            self.outside.append(url)

    def login(self, base: str, user: str) -> None:
        self.page.goto(f"{base}/login")
        self.page.fill("#username", user)
        self.page.fill("#password", SAMPLE_PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/map$"))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"web_{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def test_map_dossier_acknowledge_and_scope(live, browser):
    alert = fresh_alert(live, CELL_A, "dispatched")
    head = Watched(browser, viewport={"width": 1280, "height": 860})
    try:
        head.login(live.url, "head_a")
        page = head.page
        page.wait_for_selector("#map[data-loaded='1']")
        assert page.get_attribute("#map", "data-features") == "18"
        head.shot("1_map")
        # the hotspot cell is outlined in black; click it
        page.locator("path.leaflet-interactive[stroke='#111']").first.click()
        page.wait_for_selector("#open-dossier")
        assert CELL_A in page.inner_text("#cell-panel")
        assert "热点 hotspot" in page.inner_text("#cell-panel")
        head.shot("2_map_cell_clicked")
        page.click("#open-dossier")
        page.wait_for_url(re.compile(rf".*/cells/{CELL_A}$"))
        page.wait_for_selector("#trend .main-svg")  # the plotly trend chart drew
        assert "一格一档" in page.inner_text("h1")
        assert "E001" in page.inner_text("#section-sources")
        head.shot("3_dossier")
        row = page.locator(f"#dossier-alerts tr[data-alert='{alert}']")
        row.locator("button[data-action='acknowledge']").click()
        page.wait_for_selector(".flash.ok")
        assert "签收 Acknowledge ✓" in page.inner_text(".flash.ok")
        assert "已签收" in page.locator(f"#dossier-alerts tr[data-alert='{alert}']").inner_text()
        head.shot("4_acknowledged")
        page.goto(f"{live.url}/alerts")
        assert alert in page.inner_text("#alerts-table")
        head.shot("5_inbox")
        page.click("header .user button")  # log out
        page.wait_for_url(re.compile(r".*/login$"))
        assert head.outside == [] and head.failed == []
    finally:
        head.close()

    from sourcegrid.workflow.alerts import alert_events

    last = alert_events(live.workspace, alert).iloc[-1]
    assert (last["actor"], last["action"]) == ("head_a", "acknowledge")

    other = Watched(browser, viewport={"width": 1280, "height": 860})
    try:
        other.login(live.url, "head_b")
        page = other.page
        page.wait_for_selector("#map[data-loaded='1']")
        assert page.get_attribute("#map", "data-features") == "24"
        assert CELL_A not in page.content()
        other.shot("6_other_township_map")
        page.goto(f"{live.url}/alerts")
        assert alert not in page.content() and CELL_A not in page.content()
        response = page.goto(f"{live.url}/cells/{CELL_A}")
        assert response.status == 403
        assert "无权访问" in page.inner_text("h1")
        other.shot("7_other_township_refused")
        pdf = page.request.get(f"{live.url}/api/cells/{CELL_A}/dossier.pdf")
        assert pdf.status == 403
        assert other.outside == [] and other.failed == []
    finally:
        other.close()


def test_inspector_phone_page(live, browser, tmp_path):
    from tests.web.test_security import png_bytes

    alert = fresh_alert(live, CELL_A, "acknowledged")
    photo = tmp_path / "stack.png"
    photo.write_bytes(png_bytes(8, 8))
    phone = Watched(browser, viewport={"width": 390, "height": 844}, is_mobile=True,
                    has_touch=True, device_scale_factor=2)
    try:
        phone.login(live.url, "super_a")
        page = phone.page
        page.goto(f"{live.url}/inspect?alert_id={alert}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        page.select_option("#alert_id", alert)
        page.fill("#source_id", "E001")
        page.fill("#problem", "除尘器未运行 dust collector off")
        page.fill("#note", "烟囱冒黑烟 black smoke")
        page.set_input_files("#photo", str(photo))
        phone.shot("8_inspect_phone")
        page.click("main button[type=submit]")
        page.wait_for_selector(".flash")
        assert alert in page.inner_text(".flash.ok"), page.inner_text(".flash")
        phone.shot("9_inspect_recorded")
        page.goto(f"{live.url}/alerts/{alert}")
        assert "已核查 inspected" in page.inner_text("h1")
        assert page.locator("#events-table img").count() == 1
        phone.shot("10_alert_with_photo")
        assert phone.outside == [] and phone.failed == []
    finally:
        phone.close()


def test_inventory_and_aqi_pages_draw_their_charts(live, browser):
    viewer = Watched(browser, viewport={"width": 1280, "height": 860})
    try:
        viewer.login(live.url, "county")
        page = viewer.page
        page.goto(f"{live.url}/inventory?by=sector")
        page.wait_for_selector("#inventory-chart .main-svg")
        viewer.shot("11_inventory")
        page.goto(f"{live.url}/aqi")
        page.wait_for_selector("#aqi-chart .main-svg")
        viewer.shot("12_aqi")
        page.goto(f"{live.url}/assessment")
        assert "乡镇考核排名" in page.inner_text("#assessment-townships")
        viewer.shot("13_assessment")
        assert viewer.outside == [] and viewer.failed == []
    finally:
        viewer.close()
