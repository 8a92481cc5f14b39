"""Every touch of a dependency's non-public API, one function each (DESIGN rule 8).

Batteries meets Flask, Werkzeug, Celery, kombu and cachelib through their public APIs. Where a
behaviour has no public door, the touch lives here, alone, with a test in
``tests/test_compat_seams.py`` that fails loudly when the library changes it, and with the same
behaviour on Flask 3.1 and Flask ``main``. Nothing else in ``src/batteries`` reads a private
name of another library.
"""

from __future__ import annotations

# -- Flask -----------------------------------------------------------------------------------


# -- Werkzeug --------------------------------------------------------------------------------


# -- Celery and kombu ------------------------------------------------------------------------


# -- cachelib, SQLite, others ----------------------------------------------------------------
# cachelib: no touch. The filesystem cache (``batteries.filecache``) is Batteries' own on the
# public ``cachelib.BaseCache``; the other backends are used as cachelib documents them.
