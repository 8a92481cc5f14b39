"""What a Batteries app and a Batteries blueprint add to Flask's, shared through one mixin.

``BatteriesScaffold`` comes before ``Flask`` (or ``Blueprint``) in the MRO of
:class:`batteries.Batteries` and :class:`batteries.Blueprint`, so a method defined here is
available on both.
"""

from __future__ import annotations

import typing as t

import flask


class BatteriesScaffold:
    """Methods shared by :class:`batteries.Batteries` and :class:`batteries.Blueprint`."""

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
