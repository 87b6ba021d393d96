"""``ttp releases``: the publication job from the command line, and the publication register."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from app.cli_support import fail, start_runtime

releases_cli = typer.Typer(help="Releases: the figures published on the calendar.", no_args_is_help=True)


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--on: not a date (YYYY-MM-DD): {value!r}") from None


@releases_cli.command("prepare")
def prepare_command(
    on: Annotated[str | None, typer.Option(help="As if today were this date (YYYY-MM-DD)")] = None,
) -> None:
    """Compute every release due now and print its figures, without publishing anything."""
    from app.reports.releases import publish_due

    runtime = start_runtime()
    try:
        made = publish_due(runtime.sessions, runtime.publisher, on=_day(on), store=False)
    finally:
        runtime.close()
    for item in made:
        typer.echo(json.dumps({"family": item.family, "year": item.year, "framework": item.framework,
                               "slot": item.slot.isoformat(), "periods": list(item.periods),
                               "seconds": round(item.seconds, 2), "figures": item.figures}))
    typer.echo(f"{len(made)} releases due", err=True)


@releases_cli.command("publish")
def publish_command(
    on: Annotated[str | None, typer.Option(help="As if today were this date (YYYY-MM-DD)")] = None,
) -> None:
    """Make, sign and store every release due now (what the service's job does), exactly once."""
    from app.jobs import run_once
    from app.reports.releases import publish_due

    runtime = start_runtime()
    try:
        ran, made = run_once(runtime.sessions, "releases",
                             lambda: publish_due(runtime.sessions, runtime.publisher, on=_day(on)))
    finally:
        runtime.close()
    if not ran:
        raise fail("ttp releases publish: another process is publishing now; try again later", code=1)
    published = [m for m in made or [] if m.release_id]
    for item in published:
        typer.echo(f"{item.release_id}  {item.family}  {item.year}  {item.framework}  "
                   f"{','.join(item.periods)}  {item.seconds:.1f}s")
    typer.echo(f"published {len(published)} releases", err=True)


@releases_cli.command("list")
def list_command(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """The publication register: every release, newest first."""
    from app.reports.releases import register

    runtime = start_runtime()
    try:
        with runtime.sessions() as session:
            entries = register(session)
    finally:
        runtime.close()
    for entry in entries:
        if json_output:
            typer.echo(json.dumps(entry, default=str))
        else:
            typer.echo(f"{entry['id']}  {entry['family']}  {entry['year']}  {entry['framework']}  "
                       f"#{entry['sequence']}  {entry['published_at']}  "
                       f"{'current' if entry['current'] else 'superseded'}")
