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

        page.click("text=DE")
        assert "Noch keine Beiträge." in page.content()
        screenshot("german")
