"""The ``ttp`` command: runs the service and its operator tasks with the service's own settings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from app import db
from app.settings import Settings

cli = typer.Typer(help="Outcome TTP: the service and its operator tasks.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
clients_cli = typer.Typer(help="Machine clients (OAuth 2 client credentials).", no_args_is_help=True)
keys_cli = typer.Typer(help="Keys: token signing, key encryption, pseudonyms, audit.", no_args_is_help=True)
audit_cli = typer.Typer(help="The audit log.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(clients_cli, name="clients")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(audit_cli, name="audit")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _runtime(settings: Settings):  # type: ignore[no-untyped-def]
    from app.runtime import Runtime, StartupRefused

    try:
        return Runtime.start(settings)
    except StartupRefused as exc:
        raise _fail(f"ttp: refusing to start: {exc}") from None


FIRST_ADMIN_FILE = "first-admin.json"


def _ensure_first_admin(settings: Settings) -> None:
    """In development, make an admin client when there is none, and say how to use it."""
    from sqlalchemy import func, select

    from app.auth import clients
    from app.models import Client

    runtime = _runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            if session.execute(select(func.count()).select_from(Client)).scalar_one():
                return
            made = clients.create_client(
                session, name="First admin (development)", org_type="admin", org_id=settings.ttp_id,
                scopes=None, ttp_id=settings.ttp_id, known_municipalities=runtime.codelists.municipalities,
            )
        path = settings.resolved_data_dir / FIRST_ADMIN_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"client_id": made.client_id, "client_secret": made.client_secret}, handle)
        typer.echo(f"Made a first admin client; its credentials are in {path} (mode 0600).", err=True)
    finally:
        runtime.close()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Run the service (in development: migrate, create keys and a first admin client first)."""
    import uvicorn

    from app.main import create_app
    from app.runtime import StartupRefused

    settings = Settings()
    if not settings.is_production:
        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
        db.upgrade(settings.resolved_database_url)
        _ensure_first_admin(settings)
        admin = settings.resolved_data_dir / FIRST_ADMIN_FILE
        if admin.exists():
            typer.echo(
                "Get a token:  curl -s -u \"$(jq -r '.client_id+\":\"+.client_secret' "
                f"{admin})\" -d grant_type=client_credentials http://{host}:{port}/v1/oauth/token",
                err=True,
            )
    try:
        app = create_app(settings)
    except StartupRefused as exc:
        raise _fail(f"ttp: refusing to start: {exc}") from None
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    settings = Settings()
    db.upgrade(settings.resolved_database_url)
    typer.echo("database is at the latest migration", err=True)


@clients_cli.command("add")
def clients_add(
    org_type: Annotated[str, typer.Option(help="provider | municipality | privacy_officer | admin")],
    org_id: Annotated[str, typer.Option(help="AGB code, GMxxxx, or the TTP's own id")],
    name: Annotated[str, typer.Option(help="Who this client is")],
    scope: Annotated[
        list[str] | None, typer.Option(help="Scope to grant (repeat); default: all for the org type")
    ] = None,
    public_key: Annotated[Path | None, typer.Option(help="PEM public key: a private_key_jwt client")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create a machine client; prints client_id and client_secret once."""
    from app.auth import clients

    settings = Settings()
    runtime = _runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            made = clients.create_client(
                session, name=name, org_type=org_type, org_id=org_id, scopes=scope,
                ttp_id=settings.ttp_id, known_municipalities=runtime.codelists.municipalities,
                public_key_pem=public_key.read_text() if public_key else None,
            )
    except clients.ClientError as exc:
        raise _fail(f"ttp clients add: {exc}") from None
    finally:
        runtime.close()
    result = {
        "client_id": made.client_id, "client_secret": made.client_secret, "name": made.name,
        "org_type": made.org_type, "org_id": made.org_id, "scopes": made.scopes,
    }
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {' '.join(value) if isinstance(value, list) else value}")
        if made.client_secret:
            typer.echo("The secret is shown only now; it is stored as a hash.", err=True)


@keys_cli.command("init")
def keys_init() -> None:
    """Create a production key directory (TTP_KEY_DIR) with new keys for every purpose."""
    from app.crypto.keyring import Keyring, KeyringError

    settings = Settings()
    try:
        ring = Keyring.create(settings.resolved_key_dir, origin="production")
    except KeyringError as exc:
        raise _fail(f"ttp keys init: {exc}") from None
    typer.echo(f"created keys in {ring.directory}: " + ", ".join(f"{p}={k}" for p, k in ring.active.items()))


@keys_cli.command("provider-key")
def keys_provider_key(
    key_id: Annotated[str, typer.Option(help="Key version label (v1, v2 ...)")] = "v1",
) -> None:
    """Print a new stage-1 key, to be shared once among the providers of a scheme, out of band."""
    from pseudonymisation.keys import generate_key, key_to_text

    typer.echo(key_to_text(generate_key(key_id)))
    typer.echo("Share this key only with the providers of the scheme, out of band; the TTP must never hold it.",
               err=True)


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
        raise _fail(f"ttp pseudonymise: {exc}") from None
    lines = (line.rstrip("\r\n") for line in sys.stdin)
    try:
        pseudonyms = list(pseudonymise_lines(lines, key))
    except InvalidBSNLine as exc:
        raise _fail(f"ttp pseudonymise: {exc}; nothing was written") from None
    sys.stdout.write("".join(p + "\n" for p in pseudonyms))


@audit_cli.command("verify")
def audit_verify() -> None:
    """Verify the audit log: every entry's stored leaf hash matches its recomputed canonical form."""
    from sqlalchemy import select

    from app.audit.log import entry_leaf_hash
    from app.audit.merkle import root
    from app.models import AuditEntry

    settings = Settings()
    runtime = _runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            leaves: list[bytes] = []
            expected_seq = 1
            for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
                if entry.seq != expected_seq:
                    raise _fail(f"audit log broken: entry {expected_seq} is missing (next is {entry.seq})", 1)
                if entry_leaf_hash(entry) != entry.leaf_hash:
                    raise _fail(f"audit log broken: entry {entry.seq} was changed", 1)
                leaves.append(entry.leaf_hash)
                expected_seq += 1
    finally:
        runtime.close()
    typer.echo(f"audit log intact: {len(leaves)} entries, root {root(leaves).hex()}")


def main() -> None:
    try:
        cli()
    except BrokenPipeError:  # e.g. `ttp pseudonymise | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
