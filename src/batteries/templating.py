"""Templates shipped with Batteries and the Jinja set-up of a Batteries app.

The package's templates (``batteries/base.html``, ``batteries/_flashes.html``,
``batteries/_formhelpers.html``) are found after the app's and its blueprints' own, so an app
overrides any of them by shipping a file of the same name. They are not listed by
``jinja_env.list_templates()``: that lists the app's templates only, as with Flask.

It also holds :func:`templated` (Flask's "View Decorators" pattern: a view returns a dict, a
template renders it), :func:`render_block` (one block of a template, for htmx and other
HTML-over-the-wire requests) and the Jinja globals every Batteries app has:

- ``batteries_js_url()``: the stable URL of ``batteries.js``;
- ``batteries_favicon_url()``: ``/favicon.ico`` when the static folder has one, else None;
- ``js_urls(*endpoints)``: a JSON ``<script>`` with URL patterns for ``Batteries.url()`` in JS;
- ``csrf_token()``: the forms battery's CSRF token ("" when it is not installed);
- ``batteries_flashes(categories=None)`` / ``batteries_session_in_use()``: used by
  ``batteries/_flashes.html`` so pages for visitors without a session cookie never open one.

Config: ``BATTERIES_STATIC_URL``, ``FAVICON``, ``APPLICATION_ROOT`` (outside a request).
"""

from __future__ import annotations

import functools
import os
import re
import time
import typing as t
from dataclasses import dataclass

from flask import (
    before_render_template,
    current_app,
    has_app_context,
    has_request_context,
    render_template,
    request,
    template_rendered,
)
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, Template, TemplateNotFound
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from . import _compat as compat
from . import translations
from ._compat import update_template_context
from .flashing import pop_flashes, render_flashes, session_in_use
from .i18n import get_locale
from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from jinja2 import Environment

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

PACKAGE_TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


class PackageLoader(FileSystemLoader):
    """Batteries' own templates; hidden from ``list_templates()``."""

    def __init__(self) -> None:
        super().__init__(PACKAGE_TEMPLATES)

    def list_templates(self) -> list[str]:
        return []


def wrap_loader(loader: BaseLoader) -> ChoiceLoader:
    """The app's loader first, then Batteries' templates."""
    return ChoiceLoader([loader, PackageLoader()])


def configure_environment(app: Flask, env: Environment) -> None:
    """Add Batteries' globals to a freshly built Jinja environment of ``app`` (whose templates
    copy the globals into each render's context in C: :class:`_compat.FlatGlobalsTemplate`)."""
    if env.template_class is Template:
        env.template_class = compat.FlatGlobalsTemplate
    env.globals.update(
        batteries_page=batteries_page,
        batteries_js_url=batteries_js_url,
        batteries_css_url=batteries_css_url,
        batteries_favicon_url=batteries_favicon_url,
        batteries_session_in_use=session_in_use,
        batteries_flashes=pop_flashes,
        batteries_render_flashes=render_flashes,
        js_urls=js_urls,
        csrf_token=csrf_token,
    )
    translations.configure_jinja(app, env)


# -- globals -------------------------------------------------------------------------------


def _root() -> str:
    """The script root of the current request, else ``APPLICATION_ROOT``, without a final /."""
    if has_request_context():
        return request.script_root
    if has_app_context():
        return str(current_app.config.get("APPLICATION_ROOT") or "/").rstrip("/")
    return ""


def _current_app() -> Flask | None:
    return current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]


def _static_url(app: Flask | None, root: str, filename: str) -> str:
    """The URL of Batteries' own static ``filename`` under ``root`` (``BATTERIES_STATIC_URL``)."""
    prefix = "/_batteries" if app is None else app.config.get("BATTERIES_STATIC_URL", "/_batteries")
    return f"{root}/{str(prefix).strip('/')}/{filename}"


def batteries_static_url(filename: str) -> str:
    """The stable URL of one of Batteries' own static files (``BATTERIES_STATIC_URL``)."""
    return _static_url(_current_app(), _root(), filename)


def batteries_js_url() -> str:
    """The stable URL of ``batteries.js`` (``BATTERIES_STATIC_URL`` + ``/batteries.js``)."""
    return batteries_static_url("batteries.js")


class PageParts:
    """What ``batteries/base.html`` needs from Python, worked out in one call per page (each
    call from a template costs a few microseconds: the layout made six of them)."""

    __slots__ = ("lang", "favicon", "css", "js", "session_in_use")

    def __init__(self) -> None:
        self.lang = get_locale() or "en"
        root = _root()
        app = _current_app()
        self.favicon = _favicon_url(app, root)
        self.css = _static_url(app, root, "batteries.css")
        self.js = _static_url(app, root, "batteries.js")
        self.session_in_use = session_in_use()


def batteries_page() -> PageParts:
    """The parts of ``batteries/base.html`` for this page: ``lang``, ``favicon`` (or None),
    ``css`` and ``js`` (Batteries' own files), ``session_in_use``."""
    return PageParts()


def batteries_css_url() -> str:
    """The stable URL of ``batteries.css``, the stylesheet of ``batteries/base.html``."""
    return batteries_static_url("batteries.css")


def batteries_favicon_url() -> str | None:
    """``/favicon.ico`` when the static folder has one (Batteries serves it), else None."""
    return _favicon_url(_current_app(), _root())


def _favicon_url(app: Flask | None, root: str) -> str | None:
    if app is None or not app.config.get("FAVICON", True) or not _favicon_exists(app):
        return None
    return root + "/favicon.ico"


@dataclass
class TemplatingState:
    """Per app: the last favicon check (when, found)."""

    favicon_seen: tuple[float, bool] | None = None


#: Seconds a favicon check is trusted (not in debug or testing: there every page looks again).
FAVICON_RECHECK = 5.0


def _favicon_exists(app: Flask) -> bool:
    """Whether the static folder has ``favicon.ico``, remembered a few seconds per app (a
    ``stat`` on every page cost ~5% of a template page; so did reading ``app.static_folder``,
    a property that joins paths, which is read again only when the answer is due)."""
    remember = not (app.debug or app.testing)
    if remember:
        state = state_of(app, TemplatingState)
        now = time.monotonic()
        seen = state.favicon_seen
        if seen is not None and now - seen[0] < FAVICON_RECHECK:
            return seen[1]
    folder = app.static_folder
    exists = bool(folder) and os.path.isfile(os.path.join(folder, "favicon.ico"))  # type: ignore[arg-type]
    if remember:
        state.favicon_seen = (now, exists)
    return exists


def csrf_token() -> str:
    """The CSRF token of the current session (:func:`batteries.csrf.csrf_token`)."""
    from .csrf import csrf_token as make

    return make()


_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>[^)]*)\))?:)?"
    r"(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>"
)


def url_patterns(app: Flask, endpoint: str) -> list[dict[str, t.Any]]:
    """The URL patterns of ``endpoint`` for JavaScript: ``{"pattern": "/u/{id}", "args": [...]}``.

    ``raw`` lists the arguments whose value may contain ``/`` (``path`` converters); ``defaults``
    holds what the app's URL defaults would fill in (``lang_code``, say). Rules with the most
    arguments come first: JavaScript takes the first whose arguments it has.
    """
    try:
        rules = list(app.url_map.iter_rules(endpoint))
    except KeyError:
        raise ValueError(f"js_urls: the app has no endpoint {endpoint!r}") from None
    defaults: dict[str, t.Any] = {}
    if has_request_context() or has_app_context():
        app.inject_url_defaults(endpoint, defaults)
    out = []
    for rule in rules:
        args: list[str] = []
        raw: list[str] = []
        for match in _VARIABLE.finditer(rule.rule):
            args.append(match.group("name"))
            if match.group("converter") == "path":
                raw.append(match.group("name"))
        pattern = _root() + _VARIABLE.sub(lambda m: "{" + m.group("name") + "}", rule.rule)
        entry: dict[str, t.Any] = {"pattern": pattern, "args": args}
        if raw:
            entry["raw"] = raw
        if rule.defaults:
            entry["args"] = [a for a in args if a not in rule.defaults]
        out.append(entry)
    out.sort(key=lambda e: -len(e["args"]))
    if defaults:
        for entry in out:
            entry["defaults"] = {k: str(v) for k, v in defaults.items()}
    return out


def js_urls(*endpoints: str) -> Markup:
    """A ``<script type="application/json" id="batteries-urls">`` with the URL patterns of
    ``endpoints`` (all endpoints but ``static`` when none is named), for ``Batteries.url()``.

    Example, in a template: ``{{ js_urls("index", "user.show") }}``; then in JavaScript:
    ``Batteries.url("user.show", {id: 3, tab: "posts"})`` → ``"/user/3?tab=posts"``.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not endpoints:
        endpoints = tuple(sorted({r.endpoint for r in app.url_map.iter_rules()} - {"static"}))
    data = {endpoint: url_patterns(app, endpoint) for endpoint in endpoints}
    return Markup(
        '<script type="application/json" id="batteries-urls">'
        + str(htmlsafe_json_dumps(data))
        + "</script>"
    )


# -- @templated ----------------------------------------------------------------------------


def render_block(template: str, block: str, **context: t.Any) -> str:
    """Render only ``block`` of ``template``, with the context the whole page would have.

    The context is built as for ``render_template``: the values given, the app's and
    blueprints' context processors (``request``, ``g``, ``current_user``...) and the Jinja
    globals; Flask's ``before_render_template``/``template_rendered`` signals are sent. Example::

        @app.post("/items/<int:id>")
        def save(id):
            item = update_item(id, request.form)
            if request.htmx:
                return render_block("items/show.html", "item", item=item)
            return redirect(url_for("show", id=id))

    The block runs on its own: what it uses must come from the context or be imported or set
    inside the block (a template's top-level ``{% set %}`` and ``{% from ... import %}`` are not
    run), and ``{{ super() }}`` is not available. The block must be defined in ``template``
    itself (not only in a layout it extends). Raises ``LookupError`` naming the blocks it has.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.jinja_env.get_or_select_template(template)
    render = found.blocks.get(block)
    if render is None:
        names = ", ".join(sorted(found.blocks)) or "none"
        raise LookupError(
            f"render_block: template {found.name!r} defines no block {block!r} "
            f"(its own blocks: {names})"
        )
    update_template_context(app, context)
    before_render_template.send(app, _async_wrapper=app.ensure_sync, template=found, context=context)
    body = found.environment.concat(render(found.new_context(context)))
    template_rendered.send(app, _async_wrapper=app.ensure_sync, template=found, context=context)
    return str(body)


def templated(template: str | None = None, *, block: str | None = None) -> t.Callable[[F], F]:
    """Render the view's dict with a template: Flask's "View Decorators" ``templated`` pattern.

    The view returns a dict (or None, meaning ``{}``), optionally with a status and headers as
    ``(dict, status)``, ``(dict, headers)`` or ``(dict, status, headers)``; it is rendered with
    ``template``, or ``<endpoint with "." → "/">.html`` (``"admin.users"`` →
    ``"admin/users.html"``). Anything else (a string, a response, a redirect) passes through.
    Async views work as with Flask. Example::

        @app.route("/")
        @templated()             # renders "index.html"
        def index():
            return {"items": load_items()}

    With ``block="content"``, a non-boosted htmx request (``request.htmx``, not a history
    restore) gets only that block (:func:`render_block`) and every rendered answer says
    ``Vary: HX-Request, HX-Boosted, HX-History-Restore-Request``, so a cache (and ``@cached``)
    keeps the page and its fragment apart.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            rv = current_app.ensure_sync(view)(*args, **kwargs)
            return _render(template, rv, block)

        return t.cast(F, wrapper)

    if callable(template):
        raise TypeError("use @templated() with parentheses (or @templated('page.html'))")
    return decorator


def _render(template: str | None, rv: t.Any, block: str | None = None) -> t.Any:
    extra: tuple[t.Any, ...] = ()
    if isinstance(rv, tuple) and rv and (rv[0] is None or isinstance(rv[0], dict)):
        rv, extra = rv[0], rv[1:]
    if rv is None:
        rv = {}
    elif not isinstance(rv, dict):
        return rv
    name = template
    if name is None:
        endpoint = request.endpoint
        if not endpoint:
            raise RuntimeError("@templated() without a template name needs a routed request")
        name = endpoint.replace(".", "/") + ".html"
        try:
            current_app.jinja_env.get_or_select_template(name)
        except TemplateNotFound:
            raise TemplateNotFound(
                name,
                f"{name} (the name @templated() made from the endpoint {endpoint!r}; create it, "
                f"or name the template: @templated('other.html'))",
            ) from None
    if block is None:
        body = render_template(name, **rv)
        return (body, *extra) if extra else body
    from . import htmx

    if htmx.wants_fragment(request):
        body = render_block(name, block, **rv)
    else:
        body = render_template(name, **rv)
    # A response now, so the Vary is there for whatever wraps the view (@cached keys on it).
    response = current_app.make_response((body, *extra) if extra else body)
    return htmx.vary(response)
