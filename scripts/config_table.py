"""Print the README's configuration table from Batteries' registry of config keys.

Usage: python scripts/config_table.py [--write]   (--write updates README.md in place)
The README's table sits between the markers <!-- config-table --> and <!-- /config-table -->;
tests/test_readme.py fails when it is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from batteries.app import REGISTRY

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- config-table -->", "<!-- /config-table -->"


def shown_default(setting) -> str:
    if setting.shown is not None:
        return setting.shown
    if callable(setting.default):
        return "(computed)"
    value = setting.default
    if isinstance(value, (set, frozenset)):
        value = sorted(value)
    return repr(value)


def table() -> str:
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for setting in sorted(REGISTRY, key=lambda s: s.key):
        if setting.key in {"DEBUG", "TESTING", "SERVER_NAME", "APPLICATION_ROOT",
                           "PREFERRED_URL_SCHEME", "MAX_FORM_MEMORY_SIZE", "MAX_FORM_PARTS",
                           "SESSION_COOKIE_NAME", "SESSION_COOKIE_SECURE",
                           "SESSION_COOKIE_HTTPONLY", "SEND_FILE_MAX_AGE_DEFAULT",
                           "TRUSTED_HOSTS", "PROPAGATE_EXCEPTIONS", "TEMPLATES_AUTO_RELOAD",
                           "SECRET_KEY_FALLBACKS"}:
            continue  # Flask's own keys, unchanged: see Flask's docs
        default = shown_default(setting).replace("|", "\\|")
        rows.append(f"| `{setting.key}` | `{default}` | {setting.help} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        README.write_text(render(README.read_text()))
    else:
        print(table())
