"""A supervisor (Polish, Europe/Warsaw) opens the contact-centre report in Chromium, clicks
a bar, sees the rows behind it and exports them and the report as XLSX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from crm_core.services.preferences import do_set_user_preferences
from hub.db import db
from tests.e2e.conftest import LiveServer
from tests.e2e.test_console_e2e import TIMEOUT, login, shot
from tests.report_data import seed

pytestmark = pytest.mark.browser

FIRST_BAR = """() => {
  const c = Chart.getChart("chart");
  for (let d = 0; d < c.data.datasets.length; d++) {
    const meta = c.getDatasetMeta(d);
    for (let i = 0; i < meta.data.length; i++) {
      const v = c.data.datasets[d].data[i];
      if (v > 0) {
        const bar = meta.data[i];
        return { x: bar.x, y: (bar.y + bar.base) / 2, value: v };
      }
    }
  }
  return null;
}"""


def test_supervisor_drills_into_a_bar_and_exports_xlsx(
    browser: Any, live_server: LiveServer, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with live_server.app.app_context(), db.transaction() as session:
        data = seed(session, n=80)
        assert data.supervisor is not None
        do_set_user_preferences(session, data.supervisor, language="pl", timezone="Europe/Warsaw")
        email = data.supervisor.email
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        login(page, live_server, email, "/reports")
        expect(page.locator("#report-title")).to_have_text("Contact center", timeout=TIMEOUT)
        expect(page.locator("#f-metric")).to_have_value("contacts")
        expect(page.locator("#l-entity")).to_be_hidden()
        page.fill("#f-from", "2026-10-22")
        page.fill("#f-to", "2026-10-28")
        with page.expect_response(
            lambda r: "/reports/api/run/contact_centre" in r.url and "from=2026-10-22" in r.url,
            timeout=TIMEOUT,
        ):
            page.click("#run")
        expect(page.locator("#table tbody tr")).to_have_count(8, timeout=TIMEOUT)  # 7 days + total
        bar = page.evaluate(FIRST_BAR)
        assert bar is not None
        with page.expect_response(
            lambda r: "/reports/api/drill/contact_centre" in r.url, timeout=TIMEOUT
        ):
            page.locator("#chart").click(position={"x": bar["x"], "y": bar["y"]})
        drill = page.locator("#drill")
        expect(drill).to_be_visible(timeout=TIMEOUT)
        expect(page.locator("#drill-table tbody tr")).to_have_count(bar["value"], timeout=TIMEOUT)
        expect(page.locator("#drill-h")).to_contain_text(str(bar["value"]))
        shot(page, artifacts, "reports-drill-down", full_page=True)

        with page.expect_download(timeout=TIMEOUT) as download:
            page.click("#drill-xlsx")
        path = tmp_path / "drill.xlsx"
        download.value.save_as(path)
        ws = load_workbook(path).active
        assert ws is not None and ws.max_row == bar["value"] + 1

        with page.expect_download(timeout=TIMEOUT) as download:
            page.click("#export-xlsx")
        path = tmp_path / "report.xlsx"
        download.value.save_as(path)
        ws = load_workbook(path).active
        assert ws is not None and ws.max_row == 1 + 7
        assert ws.cell(row=1, column=2).value == "Kontakty"

        # Save it as a rolling report; it is listed and opens again.
        page.click(".rp-save summary")
        page.fill("#s-name", "Tydzień kontaktów")
        with page.expect_response(
            lambda r: r.url.endswith("/reports/api/saved") and r.request.method == "POST",
            timeout=TIMEOUT,
        ) as saved:
            page.click("#save-form button[type=submit]")
        assert saved.value.status == 201
        item = page.locator("#saved li", has_text="Tydzień kontaktów")
        expect(item).to_be_visible(timeout=TIMEOUT)
        page.select_option("#f-metric", "abandoned")
        with page.expect_response(
            lambda r: "/reports/api/run/contact_centre" in r.url and "metric=contacts" in r.url,
            timeout=TIMEOUT,
        ):
            item.locator("button").first.click()
        expect(page.locator("#f-metric")).to_have_value("contacts")
    finally:
        page.close()
