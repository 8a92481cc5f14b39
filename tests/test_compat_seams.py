"""Each touch of a dependency's non-public API (``batteries._compat``) tested on its own.

A test here fails loudly when Flask, Werkzeug, Celery, kombu or cachelib changes what the touch
relies on, so the break shows in this file rather than as a wrong behaviour somewhere else.
"""

from __future__ import annotations

# -- Flask -----------------------------------------------------------------------------------


# -- Werkzeug --------------------------------------------------------------------------------


# -- Celery and kombu ------------------------------------------------------------------------


# -- cachelib, SQLite, others ----------------------------------------------------------------
