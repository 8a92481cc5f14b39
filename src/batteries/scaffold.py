"""What a Batteries app and a Batteries blueprint add to Flask's, shared through one mixin.

``BatteriesScaffold`` comes before ``Flask`` (or ``Blueprint``) in the MRO of
:class:`batteries.Batteries` and :class:`batteries.Blueprint`, so a method defined here is
available on both.
"""

from __future__ import annotations

import typing as t

import flask

from .lazy import LazyView, resolve_import_name


class BatteriesScaffold:
    """Methods shared by :class:`batteries.Batteries` and :class:`batteries.Blueprint`."""

    import_name: str

    def lazy_url(
        self,
        import_name: str,
        rules: str | t.Iterable[str],
        *,
        endpoint: str | None = None,
        **options: t.Any,
    ) -> LazyView:
        """Route ``rules`` to a view that is imported on the first request that needs it.

        ``import_name`` is ``"pkg.views.index"`` (or ``"pkg.views:index"``), or relative to
        this app's or blueprint's package: ``".views.index"``. ``rules`` is one rule or a list.
        The endpoint is the view's name unless ``endpoint=`` is given; other options
        (``methods``, ``defaults``, ...) are those of ``add_url_rule``. Example::

            app.lazy_url(".views.show_user", "/user/<int:id>", methods=["GET", "POST"])
            url_for("show_user", id=1)     # works before the views module is imported

        Returns the :class:`~batteries.LazyView`.
        """
        view = LazyView(resolve_import_name(import_name, self.import_name))
        if isinstance(rules, str):
            rules = [rules]
        rules = list(rules)
        if not rules:
            raise ValueError(f"lazy_url({import_name!r}) needs at least one rule")
        for rule in rules:
            self.add_url_rule(  # type: ignore[attr-defined]
                rule, endpoint=endpoint or view.__name__, view_func=view, **options
            )
        return view

    def user_loader(self, loader: t.Callable[[t.Any], t.Any]) -> t.Callable[[t.Any], t.Any]:
        """Register the function that turns a user id from the session into a user (or None).

        On a blueprint it is set on the app the blueprint is registered on. See
        :mod:`batteries.auth`. Example::

            @app.user_loader
            def load_user(user_id):
                return db.session.get(User, int(user_id))
        """
        from . import auth

        return auth.user_loader(self, loader)  # type: ignore[arg-type,no-any-return]


class Blueprint(BatteriesScaffold, flask.Blueprint):
    """Flask's ``Blueprint`` with Batteries' additions. A plain ``flask.Blueprint`` works too."""
