"""What every ``ttp`` command shares: failing with a message and an exit code, and starting the
service's runtime with its own settings (for ``app.cli`` and the command groups it gathers, such as
``app.audit.commands``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from app.settings import Settings

if TYPE_CHECKING:
    from app.runtime import Runtime


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` on stderr; raise the returned exit (2: cannot run, 1: found a problem)."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def start_runtime(settings: Settings | None = None) -> Runtime:
    """The runtime for ``settings`` (default: from the environment); exit 2 when it refuses to start."""
    from app.runtime import Runtime, StartupRefused

    try:
        return Runtime.start(settings or Settings())
    except StartupRefused as exc:
        raise fail(f"ttp: refusing to start: {exc}") from None
