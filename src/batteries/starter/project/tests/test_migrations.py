"""The migrations in __project__/migrations build the schema the models describe.

Fails when a model changed without a revision: run 'batteries --app __project__ db migrate -m
"what changed"', review the file, then 'batteries --app __project__ db upgrade'.
"""

from __future__ import annotations

from batteries.cli import cli


def test_migrations_match_the_models(runner):
    # the app fixture's database was upgraded to the head (conftest.py)
    check = runner.invoke(cli, ["db", "check"])
    assert check.exit_code == 0, check.output
    assert "agree" in check.output
