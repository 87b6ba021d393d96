"""The ``ttp`` entry point, and the provider's commands that run without the server installed.

``main`` sends ``submit``, ``pseudonymise``, ``keys provider-key`` and ``records template`` to the light
commands here (they import nothing of the server), and everything else to the service's command line
(``app.cli``). Without the ``[server]`` extra, a server command says what to install.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

SERVER_EXTRA = "outcome-ttp[server]"
#: Packages only the server needs; a missing one means the light install.
SERVER_PACKAGES = frozenset({"fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "psycopg", "numpy", "scipy",
                             "jose", "prometheus_client", "pydantic_settings", "multipart", "python_multipart"})

cli = typer.Typer(help="Outcome TTP, the provider's side: submit an export, pseudonymise, templates.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
keys_cli = typer.Typer(help="Keys: the providers' stage-1 key.", no_args_is_help=True)
records_cli = typer.Typer(help="Outcome records.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(records_cli, name="records")


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@cli.command()
def submit(
    server: Annotated[str, typer.Option("--server", help="The TTP's base URL, e.g. https://ttp.example.nl")],
    export: Annotated[Path | None, typer.Argument(help="The export: .csv, .xlsx or .json (see `ttp records "
                                                       "template --for-submit`); not with --withdraw")] = None,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help="The scheme's stage-1 key file (mode 0600); needed to submit an export")] = None,
    withdraw: Annotated[str | None, typer.Option(
        "--withdraw", metavar="REFS",
        help="Withdraw consents instead of submitting: your own consent references, comma-separated "
             "(dossier-1,dossier-2), or @FILE with one reference a line. Each is looked up and withdrawn "
             "(the TTP removes its records); prints withdrawn / already withdrawn / not found per "
             "reference; exit 1 if any was not found")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check every row and stop; send nothing (with --withdraw: only look them up)")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Records (and consents) per request")] = 10_000,
    receipt: Annotated[Path | None, typer.Option("--receipt", help="Write the receipt as JSON here")] = None,
    credentials: Annotated[Path | None, typer.Option(
        "--credentials", help="The JSON of `ttp clients add --json` (else TTP_CLIENT_ID, TTP_CLIENT_SECRET)")] = None,
    private_key: Annotated[Path | None, typer.Option(
        "--private-key", help="PEM private key: authenticate with private_key_jwt")] = None,
) -> None:
    """Validate, pseudonymise here, register consents and upload records; resumable. The BSN stays here.

    With --withdraw REFS (and no export): withdraw consents by your own references.
    """
    from provider_tool.client import load_credentials
    from provider_tool.submit import Options, SubmitError, run

    if withdraw is not None:
        if export is not None:
            raise fail("ttp submit: give an export to submit or --withdraw REFS, not both")
        from provider_tool.withdraw import WithdrawError, parse_references, run_withdraw

        try:
            withdrawn = run_withdraw(parse_references(withdraw), server,
                                     lambda: load_credentials(credentials, private_key),
                                     dry_run=dry_run, receipt=receipt)
        except WithdrawError as exc:
            raise fail(f"ttp submit --withdraw: {exc}") from None
        except KeyboardInterrupt:
            raise fail("ttp submit --withdraw: interrupted; the references printed above are done", 130) from None
        raise typer.Exit(withdrawn.exit_code)
    if export is None or key_file is None:
        raise fail("ttp submit: give the EXPORT and --key-file (or --withdraw REFS to withdraw consents)")
    options = Options(export=export, server=server, key_file=key_file, dry_run=dry_run, batch_size=batch_size,
                      receipt=receipt)
    try:
        outcome = run(options, lambda: load_credentials(credentials, private_key))
    except SubmitError as exc:
        raise fail(f"ttp submit: {exc}") from None
    except KeyboardInterrupt:
        raise fail("ttp submit: interrupted; what the TTP acknowledged is in the journal: run the same command "
                   "again to continue", 130) from None
    raise typer.Exit(outcome.exit_code)


@cli.command()
def pseudonymise(
    key_file: Annotated[Path, typer.Option("--key-file", help="The providers' shared stage-1 key file (mode 0600)")],
) -> None:
    """Provider side: BSNs on stdin (one a line) to stage-1 pseudonyms on stdout.

    Nothing is printed unless every line is a valid BSN; a bad line is named by its number only.
    """
    from pseudonymisation.keys import KeyFileError, load_key_file
    from pseudonymisation.stage1 import InvalidBSNLine, pseudonymise_lines

    try:
        key = load_key_file(key_file)
    except KeyFileError as exc:
        raise fail(f"ttp pseudonymise: {exc}") from None
    lines = (line.rstrip("\r\n") for line in sys.stdin)
    try:
        pseudonyms = list(pseudonymise_lines(lines, key))
    except InvalidBSNLine as exc:
        raise fail(f"ttp pseudonymise: {exc}; nothing was written") from None
    sys.stdout.write("".join(p + "\n" for p in pseudonyms))


@keys_cli.command("provider-key")
def keys_provider_key(
    key_id: Annotated[str, typer.Option(help="Key version label (v1, v2 ...)")] = "v1",
) -> None:
    """Print a new stage-1 key, to be shared once among the providers of a scheme, out of band."""
    from pseudonymisation.keys import generate_key, key_to_text

    typer.echo(key_to_text(generate_key(key_id)))
    typer.echo("Share this key only with the providers of the scheme, out of band; the TTP must never hold it.",
               err=True)


@records_cli.command("template")
def records_template(
    framework: Annotated[str, typer.Option(help="jeugdhulp | jeugdbescherming | jeugdreclassering")] = "jeugdhulp",
    for_submit: Annotated[bool, typer.Option(
        "--for-submit", help="The export `ttp submit` reads: bsn instead of pseudonym, and the consent columns")
    ] = False,
) -> None:
    """Print the CSV header (and one example row) for POST /v1/records/batches, or for `ttp submit`."""
    from app.records.schemas import FRAMEWORKS, csv_template

    if framework not in FRAMEWORKS:
        raise fail(f"ttp records template: --framework must be one of {', '.join(FRAMEWORKS)}")
    if for_submit:
        from provider_tool.export import template

        sys.stdout.write(template(framework))
    else:
        sys.stdout.write(csv_template(framework))


@records_cli.command("pending")
def records_pending(
    server: Annotated[str, typer.Option("--server", help="The TTP's base URL, e.g. https://ttp.example.nl")],
    agb: Annotated[str, typer.Option("--agb", help="Your AGB code (the organisation of your client)")],
    credentials: Annotated[Path | None, typer.Option(
        "--credentials", help="The JSON of `ttp clients add --json` (else TTP_CLIENT_ID, TTP_CLIENT_SECRET)")] = None,
    private_key: Annotated[Path | None, typer.Option(
        "--private-key", help="PEM private key: authenticate with private_key_jwt")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the TTP's answer as JSON")] = False,
) -> None:
    """Which of your records the published figures do not show yet, and from when they may.

    A quarter is first published at its calendar date; a later change that would single out fewer
    children than a threshold waits for a later release. Nothing is lost: this lists what waits."""
    from provider_tool.client import ClientError, load_credentials
    from provider_tool.pending import fetch, render

    if not agb.isdigit() or len(agb) != 8:
        raise fail("ttp records pending: --agb must be your 8-digit AGB code")
    try:
        body = fetch(server, agb, lambda: load_credentials(credentials, private_key))
    except ClientError as exc:
        raise fail(f"ttp records pending: {exc}") from None
    sys.stdout.write(render(body, as_json=as_json))


LIGHT_COMMANDS = (("submit",), ("pseudonymise",), ("keys", "provider-key"), ("records", "template"),
                  ("records", "pending"))


def _is_light(argv: list[str]) -> bool:
    return any(tuple(argv[:len(command)]) == command for command in LIGHT_COMMANDS)


def main() -> None:
    argv = sys.argv[1:]
    if not _is_light(argv):
        try:
            from app.cli import main as server_main
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in SERVER_PACKAGES:
                raise
            if argv and not argv[0].startswith("-"):
                typer.echo(f"ttp {argv[0]}: this command runs the service; install it with "
                           f"pip install '{SERVER_EXTRA}' (this install has the provider's commands only: "
                           "submit, pseudonymise, keys provider-key, records template)", err=True)
                sys.exit(2)
        else:
            server_main()
            return
    try:
        cli()
    except BrokenPipeError:  # e.g. `ttp pseudonymise | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
