"""What a Batteries app and a Batteries blueprint add to Flask's, shared through one mixin.

``BatteriesScaffold`` comes before ``Flask`` (or ``Blueprint``) in the MRO of
:class:`batteries.Batteries` and :class:`batteries.Blueprint`, so a method defined here is
available on both.
"""

from __future__ import annotations

import flask


class BatteriesScaffold:
    """Methods shared by :class:`batteries.Batteries` and :class:`batteries.Blueprint`."""


class Blueprint(BatteriesScaffold, flask.Blueprint):
    """Flask's ``Blueprint`` with Batteries' additions. A plain ``flask.Blueprint`` works too."""
