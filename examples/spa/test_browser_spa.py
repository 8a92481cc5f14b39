"""The single-page app in chromium: add, navigate client-side, see SSE updates, delete."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_spa_in_chromium(spa_app, live_server, browser, page, screenshot):
    spa_app.config["EVENTS_SECONDS"] = 20.0
    with live_server(spa_app) as server:
        page.goto(server.url + "/")
        page.fill("#text", "Buy milk")
        page.click("text=Add")
        page.wait_for_selector("#items a:has-text('Buy milk')")
        screenshot("added")

        # A second tab adds an item: the first sees it through Server-Sent Events.
        other = browser.new_page()
        other.goto(server.url + "/items/1")
        assert other.locator("h2").inner_text() == "Buy milk"
        other.fill("#text", "Bake bread")
        other.click("text=Add")
        page.wait_for_selector("#items a:has-text('Bake bread')")
        other.close()

        page.click("#items a:has-text('Buy milk')")
        page.wait_for_url(server.url + "/items/1")
        assert page.locator("h2").inner_text() == "Buy milk"
        screenshot("item-view")
        page.reload()  # a client route served by the index.html fallback
        assert page.locator("h2").inner_text() == "Buy milk"

        page.click("text=All items")
        page.click("button[data-delete='1']")
        page.wait_for_selector("#items a:has-text('Buy milk')", state="detached")
        screenshot("deleted")
