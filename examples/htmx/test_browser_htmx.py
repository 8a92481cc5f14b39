"""The htmx example in chromium on a real server: edit, 422, confirm, flash, expired login.

htmx itself comes from the npm registry when the test runs (``htmx_js`` in conftest.py).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_app(htmx_app, htmx_js):
    htmx_app.config["HTMX_FOLDER"] = htmx_js
    return htmx_app


def log_in(page, name):
    page.fill("input[name=name]", name)
    page.click("main button[type=submit]")


def test_htmx_in_chromium(browser_app, live_server, page, screenshot):
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    with live_server(browser_app) as server:
        page.goto(server.url + "/")
        page.wait_for_url("**/login?next=/")
        log_in(page, "ada")
        page.wait_for_url(server.url + "/")
        assert page.locator("#flashes").inner_text() == "Welcome, ada."
        page.wait_for_function("() => window.htmx && htmx.version.startsWith('2')")
        screenshot("list")

        # Inline edit: the row becomes a form, Save swaps the row back and flashes.
        row = page.locator("#item-1")
        row.locator("button:has-text('Edit')").click()
        page.wait_for_selector("#item-1.editing input[name=title]")
        page.fill("#item-1 input[name=title]", "Buy oat milk")
        screenshot("editing")
        page.click("#item-1 button:has-text('Save')")
        page.wait_for_selector("#item-1:not(.editing)")
        assert page.locator("#item-1 .title").inner_text() == "Buy oat milk"
        page.wait_for_selector("#flashes :text('Saved “Buy oat milk”.')")
        assert "Welcome" not in page.locator("#flashes").inner_text()
        screenshot("saved-flash")

        # A bad title: the 422 answer (the form with its error) is swapped in.
        page.locator("#item-2 button:has-text('Edit')").click()
        page.wait_for_selector("#item-2.editing")
        page.fill("#item-2 input[name=title]", "")
        page.press("#item-2 input[name=title]", "Enter")
        page.wait_for_selector("#item-2 .error:text('Give the item a title.')")
        assert page.locator("#item-2 input[aria-invalid=true]").count() == 1
        screenshot("validation-422")
        page.click("#item-2 button:has-text('Cancel')")
        page.wait_for_selector("#item-2:not(.editing)")
        assert page.locator("#item-2 .title").inner_text() == "Write the report"

        # Delete asks first: dismissed keeps the row, accepted removes it and flashes.
        messages: list[str] = []

        def answer(dialog, accept):
            messages.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        deletes: list[str] = []
        page.on("request", lambda r: deletes.append(r.url) if r.method == "DELETE" else None)
        page.once("dialog", lambda d: answer(d, False))
        page.click("#item-3 button:has-text('Delete')")
        assert page.locator("#item-3").count() == 1
        page.once("dialog", lambda d: answer(d, True))
        page.click("#item-3 button:has-text('Delete')")
        page.wait_for_selector("#item-3", state="detached")
        page.wait_for_selector("#flashes :text('Deleted “Call Ada”.')")
        assert messages == ["Delete “Call Ada”?", "Delete “Call Ada”?"]
        assert deletes == [server.url + "/items/3"]  # only the confirmed one was sent
        screenshot("deleted-flash")

        # Refresh loads only the items block into the page.
        page.click("button:has-text('Refresh')")
        page.wait_for_selector("#items table")
        assert page.locator("nav").count() == 1 and page.locator("#items #item-3").count() == 0

        # The session expires: the next htmx request leads to the login page and back.
        page.context.clear_cookies()
        page.locator("#item-1 button:has-text('Edit')").click()
        page.wait_for_url("**/login?next=/")
        screenshot("expired-login")
        log_in(page, "ada")
        page.wait_for_url(server.url + "/")
        assert page.locator("#item-1 .title").inner_text() == "Buy oat milk"
        assert page.locator("#flashes").inner_text() == "Welcome, ada."

        # An error answer (the item went away meanwhile, deleted from elsewhere) shows its
        # fragment in #errors; the row stays as it was.
        gone = page.request.delete(server.url + "/items/2", headers={"Origin": server.url})
        assert gone.status == 200
        page.locator("#item-2 button:has-text('Edit')").click()
        page.wait_for_selector("#errors [role=alert]:has-text('There is no item 2.')")
        assert page.locator("#item-2:not(.editing)").count() == 1
        # The message flashed by that other request came along with the error fragment.
        assert page.locator("#flashes").inner_text() == "Deleted “Write the report”."
        screenshot("error-fragment")
    assert problems == []
