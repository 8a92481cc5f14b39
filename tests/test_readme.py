"""The README's configuration table matches the registry of config keys."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("config_table", ROOT / "scripts" / "config_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_table_is_up_to_date():
    script = load_script()
    readme = (ROOT / "README.md").read_text()
    assert script.render(readme) == readme, (
        "README.md's configuration table is stale: run python scripts/config_table.py --write"
    )


def test_every_key_in_the_table():
    from batteries.app import REGISTRY

    readme = (ROOT / "README.md").read_text()
    for setting in REGISTRY:
        if setting.write or setting.key.startswith(("CACHE_", "DATABASE_", "CSRF_", "UPLOAD_")):
            assert setting.key in readme, setting.key
