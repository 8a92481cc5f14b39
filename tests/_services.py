"""Whether a loopback service answers (imported by tests as ``from _services import service_up``).

Kept out of ``conftest.py``: the examples have conftest modules of their own, and a plain
``from conftest import ...`` would reach whichever was imported last.
"""

from __future__ import annotations

import socket


def service_up(port: int, host: str = "127.0.0.1") -> bool:
    """True when something answers on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
