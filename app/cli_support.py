"""What every ``ttp`` command shares: failing with a message and an exit code, and starting the
service's runtime with its own settings (for ``app.cli`` and the command groups it gathers, such as
``app.audit.commands``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from app.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.runtime import Runtime


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` on stderr; raise the returned exit (2: cannot run, 1: found a problem)."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def start_runtime(settings: Settings | None = None) -> Runtime:
    """The runtime for ``settings`` (default: from the environment). Exits 2 when it refuses to
    start, or when the database is not at the latest migration (commands never migrate it;
    ``ttp db upgrade`` does, and ``ttp serve`` in development)."""
    from app.runtime import Runtime, StartupRefused

    try:
        runtime = Runtime.start(settings or Settings())
    except StartupRefused as exc:
        raise fail(f"ttp: refusing to start: {exc}") from None
    try:
        problem = schema_problem(runtime.engine)
    except BaseException:
        runtime.close()
        raise
    if problem:
        runtime.close()
        raise fail(f"ttp: {problem}")
    return runtime


def schema_problem(engine: Engine) -> str | None:
    """Why the database behind ``engine`` is not at the latest migration, or None when it is."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from app.db import MIGRATIONS_DIR

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return None
    if current is None:
        return "the database has no schema yet: run `ttp db upgrade`"
    if current not in {revision.revision for revision in script.walk_revisions()}:
        return f"the database is at migration {current}, which this version does not know (a newer version's?)"
    return f"the database is at migration {current}, this version needs {head}: run `ttp db upgrade`"
