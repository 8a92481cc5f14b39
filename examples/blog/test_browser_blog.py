"""The blog in a real browser: register, log in, post with an image, delete, switch language."""

from __future__ import annotations

import re
import struct
import zlib

import pytest

pytestmark = pytest.mark.browser


def big_png(path, size=1200):
    """A real PNG of a few MiB (noise does not compress), so the progress bar has work to do."""
    import os

    raw = b"".join(b"\x00" + os.urandom(size * 3) for _ in range(size))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))
    path.write_bytes(png)
    return path


def test_blog_in_chromium(blog_app, live_server, page, screenshot, tmp_path):
    image = big_png(tmp_path / "photo.png")
    with live_server(blog_app) as server:
        page.goto(server.url + "/en/")
        assert "No posts yet." in page.content()
        screenshot("index-empty")

        page.click("text=Register")
        page.fill("input[name=username]", "grace")
        page.fill("input[name=password]", "hopper-1906")
        page.fill("input[name=confirm]", "hopper-1906")
        page.click("main button[type=submit]")
        page.wait_for_url("**/en/auth/login")
        assert "Registered. Please log in." in page.content()
        screenshot("registered-flash")

        page.fill("input[name=username]", "grace")
        page.fill("input[name=password]", "hopper-1906")
        page.click("main button[type=submit]")
        page.wait_for_url(server.url + "/en/")
        assert "Welcome, grace." in page.content()

        page.click("text=New post")
        page.fill("input[name=title]", "Compilers")
        page.fill("textarea[name=body]", "It's easier to ask forgiveness than permission.")
        page.set_input_files("input[name=image]", str(image))
        page.click("main button[type=submit]")
        page.wait_for_selector("output#upload-percent:has-text('100%')")
        screenshot("upload-100-percent")
        page.wait_for_url(re.compile(r".*/en/posts/\d+$"))
        assert "Compilers" in page.content()
        assert page.locator("img.post-image").count() == 1
        screenshot("post-with-image")

        page.click("button:has-text('Delete')")
        page.wait_for_url(server.url + "/en/")
        assert "Post deleted." in page.content()
        assert "No posts yet." in page.content()
        screenshot("deleted")

        page.click("a[hreflang=de]")
        assert "Noch keine Beiträge." in page.content()
        screenshot("german")


def test_blog_in_german_in_chromium(blog_app, live_server, browser, tmp_path):
    """A German browser: redirected to /de/, every page, message, form error and date in German;
    the language switch keeps the page."""
    context = browser.new_context(locale="de-DE")
    page = context.new_page()
    try:
        with live_server(blog_app) as server:
            page.goto(server.url + "/")
            page.wait_for_url(server.url + "/de/")
            assert page.locator("html").get_attribute("lang") == "de"
            assert page.locator("main h1").inner_text() == "Beiträge"
            assert "Noch keine Beiträge." in page.content()

            page.click("text=Registrieren")
            page.wait_for_url("**/de/auth/register")
            page.fill("input[name=password]", "x")
            page.fill("input[name=confirm]", "y")
            page.eval_on_selector("form", "f => f.noValidate = true")  # let the server judge
            page.click("main button[type=submit]")
            errors = page.locator(".field-errors").all_inner_texts()
            assert "Dieses Feld wird benötigt." in errors[0]
            assert "Die Passwörter müssen übereinstimmen" in errors[-1]
            assert page.locator("label[for=confirm]").inner_text() == "Passwort wiederholen"

            page.fill("input[name=username]", "lotte")
            page.fill("input[name=password]", "reiniger-1899")
            page.fill("input[name=confirm]", "reiniger-1899")
            page.click("main button[type=submit]")
            page.wait_for_url("**/de/auth/login")
            assert "Registriert. Bitte anmelden." in page.content()
            page.fill("input[name=username]", "lotte")
            page.fill("input[name=password]", "reiniger-1899")
            page.click("main button[type=submit]")
            page.wait_for_url(server.url + "/de/")
            assert "Willkommen, lotte." in page.content()

            page.click("text=Neuer Beitrag")
            page.fill("input[name=title]", "Scherenschnitt")
            page.fill("textarea[name=body]", "Die Abenteuer des Prinzen Achmed.")
            page.click("main button[type=submit]")
            page.wait_for_url(re.compile(r".*/de/posts/\d+$"))
            meta = page.locator("p.meta").inner_text()
            assert re.fullmatch(r"lotte · \d\d\.\d\d\.\d\d, \d\d:\d\d", meta), meta
            assert page.locator("button:has-text('Löschen')").count() == 1
            post_url = page.url

            page.click("a[hreflang=fr]")  # the switch keeps the page
            page.wait_for_url(post_url.replace("/de/", "/fr/"))
            assert page.locator("button:has-text('Supprimer')").count() == 1
            page.click("a[hreflang=de]")
            page.wait_for_url(post_url)
            page.click("button:has-text('Löschen')")
            page.wait_for_url(server.url + "/de/")
            assert "Beitrag gelöscht." in page.content()
    finally:
        context.close()
