"""The ``Batteries`` class: Flask, with every pattern of "Patterns for Flask" wired in.

``Batteries`` only wires: it sets Flask's class attributes (``request_class``,
``session_interface``, ``default_config``), loads the config layers and calls one ``init_app``
per battery. The work is done in the battery modules, each of which reads ``app.config`` on
first use, so ``app.config[...] = ...`` after construction takes effect.

What a subclass of Flask must not do to stay a drop-in (measured by running Flask's own test
suite against it) shapes this file: no route, endpoint or blueprint registered in ``__init__``;
no closure over ``self`` and no Jinja environment built in ``__init__``; no override of the
dispatch methods whose signatures Flask 3.2 changes. Behaviour that needs the request goes in
methods Flask keeps stable: ``make_response``, ``raise_routing_exception``,
``trap_http_exception``, ``create_jinja_environment``, ``create_global_jinja_loader``.
"""

from __future__ import annotations

import os
import typing as t

from flask import Flask, has_request_context, request
from werkzeug.datastructures import ImmutableDict
from werkzeug.exceptions import HTTPException, NotFound

from . import (
    _teardown,
    assets,
    auth,
    caching,
    checks,
    config,
    csrf,
    ctx,
    errors,
    headers,
    htmx,
    i18n,
    mail,
    migrations,
    mongo,
    passwords,
    ratelimit,
    spa,
    sqla,
    sqlite,
    task_results,
    tasks,
    templating,
    uploads,
    wrappers,
)
from .config import FLASK_SETTINGS, Registry
from .jsonprovider import JSONProvider
from .lazy import LazyRule
from .scaffold import BatteriesScaffold
from .sessions import SessionInterface
from .state import get_state
from .wrappers import Request

if t.TYPE_CHECKING:  # pragma: no cover
    from flask.templating import Environment
    from flask.wrappers import Response
    from jinja2 import BaseLoader

#: The battery modules, in the order their ``init_app`` runs. Each exports ``CONFIG`` (its
#: settings), ``init_app(app)`` and ``DEPLOY_CHECKS``; the registry and the checks are built
#: from this one tuple.
BATTERIES: tuple[t.Any, ...] = (
    wrappers,
    errors,
    ctx,
    assets,
    headers,
    caching,
    tasks,
    csrf,
    auth,
    passwords,
    htmx,
    uploads,
    sqla,
    migrations,
    sqlite,
    mongo,
    i18n,
    mail,
    ratelimit,
)

#: Every configuration key Batteries knows, with its default and meaning.
REGISTRY = Registry.collect(FLASK_SETTINGS, *(battery.CONFIG for battery in BATTERIES))

#: Every check of ``batteries check --deploy``: Flask's own keys, then each battery's.
DEPLOY_CHECKS: tuple[checks.Check, ...] = checks.DEPLOY_CHECKS + tuple(
    check for battery in BATTERIES for check in battery.DEPLOY_CHECKS
)


class Config(config.Config):
    """The config class of Batteries apps (``setdefault`` on Batteries' defaults sets them)."""

    batteries_defaults = frozenset(
        key for key in REGISTRY.defaults() if key not in Flask.default_config
    )


class ServedResponse(HTTPException):
    """Carries a response out of ``raise_routing_exception`` (favicon, SPA, batteries.js).

    It has no status code, so Flask returns it unchanged instead of looking for an error
    handler; ``make_response`` unwraps it.
    """

    code = None

    def __init__(self, response: Response) -> None:
        super().__init__(response=response)


class Batteries(BatteriesScaffold, Flask):
    """A Flask application with Batteries' components wired in.

    Use it exactly like :class:`flask.Flask`::

        from batteries import Batteries

        app = Batteries(__name__)

    Config: see the README's configuration table (every key, its default and meaning).
    """

    request_class = Request
    response_class = wrappers.Response
    config_class = Config
    url_rule_class = LazyRule
    session_interface = SessionInterface()
    json_provider_class = JSONProvider
    default_config = ImmutableDict({**Flask.default_config, **REGISTRY.defaults()})
    #: wired on demand by :meth:`_wire_on_demand` (until then a request pays nothing for them)
    _batteries_csrf_armed = False
    _batteries_celery_bound = False
    _batteries_header_plan: headers.HeaderPlan | None = None

    def __init__(
        self,
        import_name: str,
        static_url_path: str | None = None,
        static_folder: str | os.PathLike[str] | None = "static",
        static_host: str | None = None,
        host_matching: bool = False,
        subdomain_matching: bool = False,
        template_folder: str | os.PathLike[str] | None = "templates",
        instance_path: str | None = None,
        instance_relative_config: bool = False,
        root_path: str | None = None,
    ) -> None:
        super().__init__(
            import_name,
            static_url_path=static_url_path,
            static_folder=static_folder,
            static_host=static_host,
            host_matching=host_matching,
            subdomain_matching=subdomain_matching,
            template_folder=template_folder,
            instance_path=instance_path,
            instance_relative_config=instance_relative_config,
            root_path=root_path,
        )
        get_state(self)
        config.load_layers(self, REGISTRY)
        for battery in BATTERIES:
            battery.init_app(self)

    # -- requests -------------------------------------------------------------------------

    def request_context(self, environ: dict[str, t.Any]) -> t.Any:
        """Flask's own request context, with the method override applied when it routes.

        The context is Flask's (``RequestContext`` on Flask 3.1, ``AppContext`` on 3.2); for a
        POST its public ``url_adapter`` is wrapped so that matching applies the override
        (:func:`batteries.ctx.override_routing`).
        """
        self._wire_on_demand()
        return ctx.override_routing(self, super().request_context(environ))

    def app_context(self) -> t.Any:
        """Flask's own app context (the app's Celery is bound in it once Celery is imported)."""
        if not self._batteries_celery_bound:
            self._batteries_celery_bound = tasks.bind_contexts(self)
        return super().app_context()

    def ensure_sync(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        """Flask's ``ensure_sync``; Batteries' own request hooks, plain functions known to be
        synchronous, are handed back without inspecting them on every request (the app-wide
        CSRF check's inspection was 1% of a production hello)."""
        if func is csrf.protect or func is _teardown.run:
            return func
        return super().ensure_sync(func)

    def _wire_on_demand(self) -> None:
        """Install what a request pays for only once the app uses it: the app-wide CSRF check
        at the first request that finds ``CSRF_PROTECT_ALL`` on (before or after the first
        request), the Celery binding once Celery is imported. Costs three lookups after that.
        """
        if not self._batteries_csrf_armed and self.config.get("CSRF_PROTECT_ALL"):
            csrf.csrf_protect(self)
            self._batteries_csrf_armed = True
        if not self._batteries_celery_bound:
            self._batteries_celery_bound = tasks.bind_contexts(self)

    # -- responses ------------------------------------------------------------------------

    def make_response(self, rv: t.Any) -> Response:
        """Flask's ``make_response``, plus JSON error bodies for clients that want JSON.

        With ``SECURITY_HEADERS`` set, the security headers are planned here and added as the
        response is sent (see :mod:`batteries.headers`); off, that costs one ``dict.get``. An htmx request gets its
        waiting flashes delivered with the response (:func:`batteries.htmx.schedule_flashes`:
        one lookup for other requests, instead of an ``after_request`` hook on every one).
        """
        response = self._make_response(rv)
        setting = self.config.get("SECURITY_HEADERS")
        if has_request_context():
            environ = request.environ
            if setting:
                if isinstance(response, wrappers.Response):
                    # The plan plan_for() keeps in the app's state, held here too: this runs
                    # for every response (three calls fewer, 1% of a production hello).
                    plan = self._batteries_header_plan
                    if plan is None or not plan.holds(setting):
                        plan = self._batteries_header_plan = headers.plan_for(self, setting)
                    environ[headers.PLAN_KEY] = plan  # the headers are added as it is sent
                else:
                    headers.apply_headers(self, response)
            htmx.schedule_flashes(environ)
        elif setting:
            headers.apply_headers(self, response)
        return response

    def _make_response(self, rv: t.Any) -> Response:
        if isinstance(rv, HTTPException):
            if isinstance(rv, ServedResponse):
                return rv.response  # type: ignore[return-value]
            fragment = htmx.error_response(self, rv, request)  # htmx: a fragment, not a page
            if fragment is not None:
                return fragment
            if errors.should_render_json(rv, request):
                return errors.json_error_response(self, rv, request)
            if errors.should_render_html(self, rv):
                page = errors.html_error_response(self, rv)
                if page is not None:
                    return page
        return super().make_response(rv)

    def raise_routing_exception(self, request: t.Any) -> t.NoReturn:
        """Serve the favicon, package files and the SPA fallback where routing found nothing."""
        exc = request.routing_exception
        if isinstance(exc, NotFound) and request.method in ("GET", "HEAD"):
            response = self.not_found_response(request)
            if response is not None:
                raise ServedResponse(response)
        super().raise_routing_exception(request)

    def not_found_response(self, request: t.Any) -> Response | None:
        """A response for a GET/HEAD that matched no route, or None for a real 404."""
        response = assets.serve(self, request)
        if response is None:
            response = spa.serve(self, request)
        return response

    def spa(
        self,
        directory: str | os.PathLike[str],
        url_prefix: str = "/",
        index: str = "index.html",
        api_prefix: str | None = "/api",
    ) -> None:
        """Serve a single-page app's build ``directory`` (relative to ``root_path``).

        Files as they are; client routes (GET/HEAD asking for HTML, last segment without a dot,
        outside ``api_prefix``) fall back to ``index``; no route is registered, so the app's
        own routes always win. See :mod:`batteries.spa`.
        """
        spa.configure(self, directory, url_prefix=url_prefix, index=index, api_prefix=api_prefix)

    def trap_http_exception(self, e: Exception) -> bool:
        if isinstance(e, ServedResponse):
            return False
        return super().trap_http_exception(e)

    # -- templates ------------------------------------------------------------------------

    def create_global_jinja_loader(self) -> BaseLoader:  # type: ignore[override]
        return templating.wrap_loader(super().create_global_jinja_loader())

    def create_jinja_environment(self) -> Environment:
        """Flask's environment plus Batteries' template globals, all under Batteries' own names
        (``batteries_*``). Names other extensions also define appear only when the app uses the
        Batteries part behind them (README, "Differences from Flask"): ``current_user`` once a
        user loader is registered (:mod:`batteries.auth`), ``csrf_token`` once a Batteries form
        is made or ``CSRF_PROTECT_ALL`` is on (:mod:`batteries.csrf`), ``csp_nonce`` when
        ``SECURITY_HEADERS`` is on as the environment is built (the first render)."""
        env = super().create_jinja_environment()
        templating.configure_environment(self, env)
        token = env.globals.pop("csrf_token", csrf.csrf_token)
        env.globals["batteries_csrf_token"] = token
        env.globals["batteries_current_user"] = auth.current_user
        env.globals["batteries_csp_nonce"] = headers.csp_nonce
        if headers.SECURITY_HEADERS.get(self):
            env.globals["csp_nonce"] = headers.csp_nonce
        return env

    # -- translations ---------------------------------------------------------------------

    def locale_selector(self, fn: t.Callable[[], str | None]) -> t.Callable[[], str | None]:
        """Decorate the function that picks a request's locale when the URL does not say it
        (a user's saved preference; None lets ``Accept-Language`` decide). See
        :mod:`batteries.i18n`."""
        return i18n.locale_selector(self)(fn)

    # -- cache and tasks ------------------------------------------------------------------

    @property
    def celery(self) -> t.Any:
        """The app's Celery app, built on first use from ``app.config["CELERY"]``.

        See :mod:`batteries.tasks`. A Celery app the user put in ``app.extensions["celery"]``
        is returned as it is.
        """
        return tasks.get_celery(self)

    def task_results(
        self, rule: str = "/tasks/<task_id>", endpoint: str = "batteries_task_result", **options: t.Any
    ) -> None:
        """Add a JSON endpoint at ``rule`` that reports a task's state, value and progress."""
        task_results.add_results_route(self, rule, endpoint, **options)
