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


def tour_files() -> dict[str, str]:
    import re

    readme = (ROOT / "README.md").read_text()
    files = {}
    for name, body in re.findall(r"<!-- tour:(\S+) -->\n```\w*\n(.*?)```\n<!-- /tour -->", readme, re.S):
        files[name] = body
    return files


def test_the_tour_runs_as_written(tmp_path, monkeypatch):
    import re
    import sys

    files = tour_files()
    assert set(files) == {"app.py", "templates/index.html"}
    for name, body in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    assert len(files["app.py"].splitlines()) <= 60
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("app", None)
    try:
        import app as tour

        app = tour.app
        app.config.update(
            TESTING=True,
            SECRET_KEY="tour",
            CELERY={"task_always_eager": True, "task_store_eager_result": True},
        )
        with app.app_context():
            tour.db.create_all()
        client = app.test_client()
        page = client.get("/").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post("/", data={"text": "hello", "csrf_token": token})
        assert response.status_code in (302, 303)  # redirect()'s default: 302, 303 on Flask 3.2
        page = client.get("/").get_data(as_text=True)
        assert "HELLO" in page and "Saved." in page
        assert client.get("/count").json == {"notes": 1}
        assert client.post("/", data={"text": "no token"}).status_code == 200
        assert client.get("/count").json == {"notes": 1}
    finally:
        sys.modules.pop("app", None)
