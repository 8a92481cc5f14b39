"""Translations: the cost of ``_()`` after the first call, and of a translated page.

Contenders, each with the same German catalog (written to a temporary folder):

- ``stdlib``: ``GNUTranslations.gettext`` called directly, no request, no locale lookup (the floor);
- ``flask-babel``: Flask + Flask-Babel 4, ``flask_babel.gettext`` (locale from its selector,
  which reads ``Accept-Language``);
- ``batteries``: ``Batteries`` with ``batteries.i18n._`` (locale from ``Accept-Language`` among
  ``LANGUAGES``).

Cases:

- ``gettext``: one ``_("Posts")`` inside a request context that already translated once
  (the locale and catalog are found; this is what every further call in a request costs);
- ``page``: ``GET /`` rendering a template with 20 ``{{ _() }}`` strings, through the WSGI
  callable.

Goal: ``gettext`` on Batteries under 2 µs per call (median).

Usage: ``python bench/i18n.py [--rounds N] [--calls N] [--quick] [--tiny]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

IMPLS = ["stdlib", "flask-babel", "batteries"]
WORDS = [f"Word {n}" for n in range(20)]
MESSAGES = {"Posts": "Beiträge", **{w: w.replace("Word", "Wort") for w in WORDS}}
TEMPLATE = "".join(f"<p>{{{{ _({w!r}) }}}}</p>" for w in WORDS)
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
#: Median µs per ``_()`` call Batteries must stay under.
GETTEXT_GOAL_US = 2.0


def write_catalog(root: str) -> str:
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalog = Catalog(locale="de", fuzzy=False)
    for msgid, msgstr in MESSAGES.items():
        catalog.add(msgid, msgstr)
    path = os.path.join(root, "translations", "de", "LC_MESSAGES", "messages.mo")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        write_mo(f, catalog)
    os.makedirs(os.path.join(root, "templates"), exist_ok=True)
    with open(os.path.join(root, "templates", "page.html"), "w", encoding="utf-8") as f:
        f.write(TEMPLATE)
    return path


def flask_babel_app(root: str) -> t.Any:
    from flask import Flask, render_template, request
    from flask_babel import Babel

    app = Flask("bench_i18n_flask_babel", root_path=root)
    Babel(app, locale_selector=lambda: request.accept_languages.best_match(["en", "de"]))

    @app.get("/")
    def page() -> str:
        return render_template("page.html")

    return app


def batteries_app(root: str) -> t.Any:
    from flask import render_template

    from batteries import Batteries

    app = Batteries("bench_i18n_batteries", root_path=root)
    app.config["LANGUAGES"] = ["en", "de"]

    @app.get("/")
    def page() -> str:
        return render_template("page.html")

    return app


#: ``_()`` calls per pushed request context (the push and pop are spread over them).
INNER = 1000


def gettext_caller(app: t.Any, gettext: t.Callable[[str], str]) -> t.Callable[[], None]:
    """A function that, in a request context of ``app``, calls ``gettext("Posts")`` INNER times.

    The same request context is pushed each time, so every call after the very first finds the
    locale and the catalog already chosen (what each further ``_()`` of a request costs).
    """
    ctx = app.test_request_context(headers=GERMAN)
    with ctx:
        if gettext("Posts") != "Beiträge":  # the first call: locale chosen, catalog loaded
            raise RuntimeError(f"{app.name}: the catalog was not used")

    def call() -> None:
        with ctx:
            for _ in range(INNER):
                gettext("Posts")

    return call


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    args = common.size_args(
        __doc__.split("\n\n")[0], argv, rounds=15, calls=20000, quick=(5, 5000)
    )

    import gettext as stdlib_gettext

    from flask_babel import gettext as babel_gettext

    from batteries.i18n import _

    with tempfile.TemporaryDirectory(prefix="bench-i18n-") as root:
        mo = write_catalog(root)
        with open(mo, "rb") as f:
            plain = stdlib_gettext.GNUTranslations(f)
        apps = {"flask-babel": flask_babel_app(root), "batteries": batteries_app(root)}

        def plain_call() -> None:
            for _ in range(INNER):
                plain.gettext("Posts")

        gettext_calls = {
            "gettext|stdlib": plain_call,
            "gettext|flask-babel": gettext_caller(apps["flask-babel"], babel_gettext),
            "gettext|batteries": gettext_caller(apps["batteries"], _),
        }
        samples = common.interleave(
            gettext_calls, rounds=args.rounds, calls=max(1, args.calls // INNER)
        )
        samples = {name: [v / INNER for v in values] for name, values in samples.items()}

        pages = {
            f"page|{impl}": common.wsgi_caller(apps[impl], common.make_environ("/", headers=GERMAN))
            for impl in ("flask-babel", "batteries")
        }
        samples.update(
            common.interleave(pages, rounds=args.rounds, calls=max(1, args.calls // 20))
        )

    keyed = {tuple(name.split("|")): values for name, values in samples.items()}
    result = common.matrix_result("i18n", keyed, baseline="flask-babel")  # type: ignore[arg-type]
    value = common.median(keyed["gettext", "batteries"]) * 1e6
    result["gettext_us"] = value
    result["gettext_goal_us"] = GETTEXT_GOAL_US
    result["machine"] = common.machine()
    print(f"i18n: median per call ({common.CLOCK_NAME} time), {args.rounds} rounds")
    common.print_matrix(result, IMPLS, baseline="flask-babel")
    verdict = "met" if value < GETTEXT_GOAL_US else "MISSED"
    print(f"goal gettext batteries < {GETTEXT_GOAL_US} µs: {value:.2f} µs {verdict}")
    return result


if __name__ == "__main__":
    main()
