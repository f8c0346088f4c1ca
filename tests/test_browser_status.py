"""«Состояние отправки» in a real Chromium: reached from the menu, the chart drawn with a bar
per hour, the figures readable; a screenshot is kept for a person to look at."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import browser_login, screenshot
from .test_status_page import fill

pytestmark = pytest.mark.browser


def test_status_page_in_the_browser(page, live_server, users, smtp, app):
    fill(app, smtp)
    browser_login(page, live_server, users.admin)
    page.locator("summary", has_text="Сервисы").click()
    page.get_by_role("link", name="Состояние отправки").click()
    expect(page.get_by_role("heading", name="Состояние отправки", exact=True)).to_be_visible()
    expect(page.locator("#hourly-chart .bar")).to_have_count(24)
    expect(page.locator("#queue [data-status=queued]")).to_have_text("3")
    expect(page.locator("#sent-day")).to_have_text("50")
    expect(page.locator("#failing")).to_contain_text("SMTP-аккаунт user@example.com")
    expect(page.locator("#workers")).to_contain_text("не отвечает")
    box = page.locator("#hourly-chart").bounding_box()
    assert box["width"] > 600 and box["height"] > 100  # drawn, not collapsed
    screenshot(page, "status-page")
