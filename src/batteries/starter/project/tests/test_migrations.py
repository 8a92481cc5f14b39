"""The migrations in __project__/migrations build the schema the models describe.

Fails when a model changed without a revision: run 'batteries --app __project__ db migrate -m
"what changed"', review the file, then 'batteries --app __project__ db upgrade'.
"""

from __future__ import annotations

from batteries.cli import cli

from __project__ import create_app


def test_migrations_match_the_models(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'migrated.sqlite'}",
        }
    )
    runner = app.test_cli_runner()
    upgrade = runner.invoke(cli, ["db", "upgrade"])
    assert upgrade.exit_code == 0, upgrade.output
    check = runner.invoke(cli, ["db", "check"])
    assert check.exit_code == 0, check.output
