"""The blog's migrations (blog/migrations) build the schema its models describe."""

from __future__ import annotations

import os

from batteries.cli import cli


def test_migrations_match_the_models(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("BATTERIES_", "FLASK_")):
            monkeypatch.delenv(name)
    from blog import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "blog test key",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'migrated.sqlite'}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    app.instance_path = str(tmp_path / "instance")
    runner = app.test_cli_runner()
    upgrade = runner.invoke(cli, ["db", "upgrade"])
    assert upgrade.exit_code == 0, upgrade.output
    check = runner.invoke(cli, ["db", "check"])
    assert check.exit_code == 0, check.output
    assert "agree" in check.output
    downgrade = runner.invoke(cli, ["db", "downgrade", "base"])
    assert downgrade.exit_code == 0, downgrade.output
