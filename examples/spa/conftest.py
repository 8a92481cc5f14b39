"""Fixtures for the single-page-app example."""

from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture
def spa_app():
    from spa_example import create_app

    return create_app({"TESTING": True, "SECRET_KEY": "spa test key", "EVENTS_SECONDS": 0.2})
