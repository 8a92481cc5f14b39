"""Batteries' Alembic environment: the app, its ``db`` and the options come from the caller.

Alembic runs this file for every command; all the work is in :mod:`batteries.migrations`, so
an app never has an ``env.py`` of its own to edit.
"""

from __future__ import annotations

from alembic import context

from batteries.migrations import run_environment

run_environment(context)
