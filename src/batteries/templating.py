"""Templates shipped with Batteries and the Jinja set-up of a Batteries app.

The package's templates (``batteries/base.html``, ``batteries/_flashes.html``,
``batteries/_formhelpers.html``) are found after the app's and its blueprints' own, so an app
overrides any of them by shipping a file of the same name. They are not listed by
``jinja_env.list_templates()``: that lists the app's templates only, as with Flask.
"""

from __future__ import annotations

import os
import typing as t

from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from jinja2 import Environment

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
    """Add Batteries' globals to a freshly built Jinja environment of ``app``."""
