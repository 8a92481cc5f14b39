"""The blog example, through the test client: every battery working together."""

from __future__ import annotations

import io
import os
import re

from batteries.mail import outbox

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def register(client, csrf_from, name="ada", password="analytical engine", lang="en"):
    token = csrf_from(client.get(f"/{lang}/auth/register").get_data(as_text=True))
    return client.post(
        f"/{lang}/auth/register",
        data={"username": name, "password": password, "confirm": password, "csrf_token": token},
    )


def login(client, csrf_from, name="ada", password="analytical engine", lang="en"):
    token = csrf_from(client.get(f"/{lang}/auth/login").get_data(as_text=True))
    return client.post(
        f"/{lang}/auth/login",
        data={"username": name, "password": password, "csrf_token": token},
    )


def write_post(client, csrf_from, title="Hello", body="First post", image=None, lang="en"):
    token = csrf_from(client.get(f"/{lang}/posts/new").get_data(as_text=True))
    data = {"title": title, "body": body, "csrf_token": token}
    if image is not None:
        data["image"] = image
    return client.post(f"/{lang}/posts/new", data=data, content_type="multipart/form-data")


def test_root_redirects_to_the_preferred_language(blog_client):
    assert blog_client.get("/").headers["Location"] == "/en/"
    german = blog_client.get("/", headers={"Accept-Language": "de-CH, de;q=0.9, en;q=0.5"})
    assert german.headers["Location"] == "/de/"


def test_index_in_three_languages(blog_client):
    assert b"No posts yet." in blog_client.get("/en/").data
    assert "Noch keine Beiträge." in blog_client.get("/de/").get_data(as_text=True)
    assert "Aucun article pour l’instant." in blog_client.get("/fr/").get_data(as_text=True)
    assert blog_client.get("/es/").status_code == 404


def test_language_switch_keeps_the_page(blog_client, csrf_from):
    register(blog_client, csrf_from)
    login(blog_client, csrf_from)
    write_post(blog_client, csrf_from, title="Bonjour")
    page = blog_client.get("/de/posts/1?ref=x").get_data(as_text=True)
    assert 'href="/en/posts/1?ref=x" hreflang="en"' in page
    assert 'href="/fr/posts/1?ref=x" hreflang="fr"' in page
    assert 'hreflang="de" lang="de" title="Deutsch" aria-current="true"' in page
    index = blog_client.get("/fr/?page=1").get_data(as_text=True)
    assert 'href="/de/?page=1" hreflang="de"' in index


def test_german_forms_flashes_and_dates(blog_client, csrf_from):
    token = csrf_from(blog_client.get("/de/auth/register").get_data(as_text=True))
    response = blog_client.post(
        "/de/auth/register",
        data={"username": "", "password": "a", "confirm": "b", "csrf_token": token},
    )
    page = response.get_data(as_text=True)
    assert "Benutzername" in page and "Passwort wiederholen" in page
    assert "Dieses Feld wird benötigt." in page  # WTForms' own message, in German
    assert "Die Passwörter müssen übereinstimmen" in page
    register(blog_client, csrf_from, lang="de")
    response = login(blog_client, csrf_from, lang="de")
    assert "Willkommen, ada." in blog_client.get(response.headers["Location"]).get_data(as_text=True)
    write_post(blog_client, csrf_from, lang="de")
    page = blog_client.get("/de/posts/1").get_data(as_text=True)
    assert re.search(r"ada · \d\d\.\d\d\.\d\d, \d\d:\d\d", page), page


def test_register_login_flash(blog_client, csrf_from):
    assert register(blog_client, csrf_from).status_code == 302
    response = login(blog_client, csrf_from)
    assert response.status_code == 302
    page = blog_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Welcome, ada." in page


def test_wrong_password(blog_client, csrf_from):
    register(blog_client, csrf_from)
    response = login(blog_client, csrf_from, password="nope")
    assert response.status_code == 200
    assert b"Wrong username or password." in response.data


def test_writing_needs_login(blog_client, csrf_from):
    response = blog_client.get("/en/posts/new")
    assert response.status_code == 302
    assert "/en/auth/login" in response.headers["Location"]
    assert "next=" in response.headers["Location"]
    api = blog_client.delete(
        "/api/posts/1", headers={"Accept": "application/json", "Sec-Fetch-Site": "same-origin"}
    )
    assert api.status_code == 401
    assert api.json["status"] == 401


def test_post_with_image_upload(blog_app, blog_client, csrf_from):
    register(blog_client, csrf_from)
    login(blog_client, csrf_from)
    response = write_post(blog_client, csrf_from, image=(io.BytesIO(PNG), "../../pic.png"))
    assert response.status_code == 302
    page = blog_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "First post" in page
    stored = os.listdir(blog_app.config["UPLOAD_FOLDER"])
    assert len(stored) == 1 and stored[0].endswith(".png")
    with blog_client.get(f"/en/uploads/{stored[0]}") as image:
        assert image.status_code == 200
        assert image.data == PNG


def test_disallowed_upload_is_refused(blog_app, blog_client, csrf_from):
    register(blog_client, csrf_from)
    login(blog_client, csrf_from)
    response = write_post(blog_client, csrf_from, image=(io.BytesIO(b"<?php"), "shell.php"))
    assert response.status_code == 400
    assert b"Images only" in response.data
    assert not os.listdir(blog_app.config["UPLOAD_FOLDER"]) if os.path.isdir(
        blog_app.config["UPLOAD_FOLDER"]
    ) else True


def test_json_api_and_method_override_delete(blog_client, csrf_from):
    register(blog_client, csrf_from)
    login(blog_client, csrf_from)
    write_post(blog_client, csrf_from, title="To delete")
    items = blog_client.get("/api/posts").json["items"]
    assert [p["title"] for p in items] == ["To delete"]
    post_id = items[0]["id"]
    page = blog_client.get(f"/en/posts/{post_id}").get_data(as_text=True)
    assert 'name="_method" value="DELETE"' in page
    token = csrf_from(page)
    response = blog_client.post(
        f"/en/posts/{post_id}", data={"_method": "DELETE", "csrf_token": token}
    )
    assert response.status_code == 303
    assert blog_client.get("/api/posts").json["items"] == []
    assert blog_client.get(f"/api/posts/{post_id}").status_code == 404


def test_index_is_cached_for_anonymous_visitors(blog_app, blog_client):
    from batteries import signals

    hits = []

    def on_hit(sender, **extra):
        hits.append(extra)

    first = blog_app.test_client().get("/en/")
    signals.cache_hit.connect(on_hit)
    try:
        second = blog_app.test_client().get("/en/")
    finally:
        signals.cache_hit.disconnect(on_hit)
    assert first.data == second.data
    assert hits, "the second anonymous visit should come from the cache"


def test_digest_task_sends_mail(blog_app, blog_client, csrf_from):
    register(blog_client, csrf_from)
    login(blog_client, csrf_from)
    write_post(blog_client, csrf_from, title="Digest me")
    response = blog_client.post(
        "/en/digest", headers={"Accept": "application/json", "Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 202
    status = blog_client.get(response.json["status_url"]).json
    assert status["ready"] is True and status["successful"] is True
    (message,) = outbox(blog_app)  # TESTING: the memory backend
    assert status["value"] == message["Message-ID"]
    assert message["To"] == "ada@example.invalid"
    assert message["From"] == "Blog <blog@example.invalid>"
    assert "- Digest me by ada" in message.get_body(("plain",)).get_content()
    assert "<li>Digest me by ada</li>" in message.get_body(("html",)).get_content()


def test_security_headers_and_favicon(blog_client):
    response = blog_client.get("/en/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers
    with blog_client.get("/favicon.ico") as favicon:
        assert favicon.status_code == 200
        assert favicon.mimetype == "image/vnd.microsoft.icon"


def test_cross_site_post_is_refused(blog_client, csrf_from):
    register(blog_client, csrf_from)
    response = blog_client.post(
        "/en/auth/login",
        data={"username": "ada", "password": "analytical engine"},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert response.status_code in (400, 403)


def test_upload_script_gets_the_field_error_and_pages_are_styled(blog_client, csrf_from):
    """The page's upload script asks for JSON: a refused file is the field's message, not a
    bare "BAD REQUEST"; a missing post is a page in the blog's layout (#18)."""
    register(blog_client, csrf_from)
    login(blog_client, csrf_from)
    token = csrf_from(blog_client.get("/en/posts/new").get_data(as_text=True))
    response = blog_client.post(
        "/en/posts/new",
        data={"title": "x", "body": "y", "csrf_token": token,
              "image": (io.BytesIO(b"<?php"), "shell.php")},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json == {"errors": {"image": ["Images only (png, jpg, gif, webp)."]}}
    missing = blog_client.get("/en/posts/9999")
    assert missing.status_code == 404
    assert '<section class="bt-error">' in missing.get_data(as_text=True)
