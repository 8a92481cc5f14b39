"""The htmx example through the test client: fragments, 422, logins, errors and flashes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/"}


def log_in(client, name="ada"):
    response = client.post("/login", data={"name": name})
    assert response.status_code == 302


def test_login_page_and_the_list(htmx_client):
    response = htmx_client.get("/")
    assert response.status_code == 302 and response.location == "/login?next=/"
    page = htmx_client.get("/login?next=/")
    assert 'name="next" value="/"' in page.text
    assert htmx_client.post("/login", data={"name": ""}).status_code == 422
    response = htmx_client.post("/login", data={"name": "ada", "next": "/"})
    assert response.location == "/"
    page = htmx_client.get("/")
    assert "<!doctype html>" in page.text and "Welcome, ada." in page.text
    assert "Buy milk" in page.text and 'hx-confirm="Delete “Buy milk”?"' in page.text
    assert '"responseHandling"' in page.text and "/vendor/htmx.min.js" in page.text


def test_refresh_gets_only_the_items_block(htmx_client):
    log_in(htmx_client)
    htmx_client.get("/")  # the welcome flash is shown by the page
    fragment = htmx_client.get("/", headers={**HX, "HX-Target": "items"})
    assert fragment.text.lstrip().startswith("<table>") and "<nav" not in fragment.text
    assert "Buy milk" in fragment.text and "hx-swap-oob" not in fragment.text
    assert {"HX-Request", "HX-Boosted"} <= set(fragment.vary)


def test_inline_edit_and_save_with_a_flash(htmx_client):
    log_in(htmx_client)
    htmx_client.get("/")
    form = htmx_client.get("/items/1/edit", headers=HX)
    assert form.text.startswith('<tr id="item-1" class="editing">')
    assert 'name="title" value="Buy milk"' in form.text
    saved = htmx_client.put("/items/1", data={"title": "Buy oat milk"}, headers=HX)
    assert saved.status_code == 200
    row, _, oob = saved.text.partition('<div hx-swap-oob="innerHTML:#flashes">')
    assert row.startswith('<tr id="item-1">') and "Buy oat milk" in row
    assert "Saved “Buy oat milk”." in oob
    assert htmx_client.get("/items/1", headers=HX).text.count("Buy oat milk") == 2


def test_validation_error_answers_422_with_the_form(htmx_client):
    log_in(htmx_client)
    htmx_client.get("/")
    for title, message in (("  ", "Give the item a title."), ("x" * 61, "under 60 characters")):
        response = htmx_client.put("/items/2", data={"title": title}, headers=HX)
        assert response.status_code == 422
        assert response.text.startswith('<tr id="item-2" class="editing">')
        assert 'aria-invalid="true"' in response.text and message in response.text
    assert "Write the report" in htmx_client.get("/items/2", headers=HX).text


def test_delete_removes_the_row_and_flashes(htmx_client):
    log_in(htmx_client)
    htmx_client.get("/")
    response = htmx_client.delete("/items/3", headers=HX)
    assert response.status_code == 200
    assert response.text.startswith('\n<div hx-swap-oob="innerHTML:#flashes">')
    assert "Deleted “Call Ada”." in response.text
    missing = htmx_client.delete("/items/3", headers=HX)
    assert missing.status_code == 404
    assert missing.text.startswith('<div class="error error-404" role="alert"')
    assert "There is no item 3." in missing.text


def test_expired_login_redirects_htmx_to_the_login_page(htmx_client):
    log_in(htmx_client)
    htmx_client.get("/")
    htmx_client.delete_cookie("session")
    response = htmx_client.get("/items/1/edit", headers={**HX, "HX-Current-URL": "http://localhost/?x=1"})
    assert response.status_code == 401
    parts = urlsplit(response.headers["HX-Redirect"])
    assert parts.path == "/login" and parse_qs(parts.query) == {"next": ["/?x=1"]}
    response = htmx_client.post("/login", data={"name": "ada", "next": "/?x=1"})
    assert response.location == "/?x=1"


def test_csrf_still_guards_cross_site_requests(htmx_app):
    client = htmx_app.test_client()
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    log_in(client)
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "cross-site"
    response = client.delete("/items/1", headers=HX)
    assert response.status_code == 400 and response.text.startswith('<div class="error error-400"')
    assert "cross-site" in response.text
