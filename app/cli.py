"""The ``ttp`` command: runs the service and its operator tasks with the service's own settings."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app import db
from app.audit.commands import audit_cli
from app.cli_support import fail, start_runtime
from app.reports.release_commands import releases_cli
from app.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from sqlalchemy.orm import Session

    from app.models import Client
    from app.runtime import Runtime
from provider_tool.cli import submit as provider_submit

cli = typer.Typer(help="Outcome TTP: the service and its operator tasks.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
clients_cli = typer.Typer(help="Machine clients (OAuth 2 client credentials).", no_args_is_help=True)
users_cli = typer.Typer(help="People who log in to the web pages (password + TOTP, or OIDC).", no_args_is_help=True)
keys_cli = typer.Typer(help="Keys: token signing, key encryption, pseudonyms, audit.", no_args_is_help=True)
records_cli = typer.Typer(help="Outcome records.", no_args_is_help=True)
retention_cli = typer.Typer(help="Retention of records.", no_args_is_help=True)
demo_cli = typer.Typer(help="Synthetic demo data (development only).", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(clients_cli, name="clients")
cli.add_typer(users_cli, name="users")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(records_cli, name="records")
cli.add_typer(retention_cli, name="retention")
cli.add_typer(demo_cli, name="demo")
cli.add_typer(releases_cli, name="releases")
cli.command("submit")(provider_submit)  # the provider's tool (provider_tool/, no server imports)


FIRST_RUN_FILE = "first-run.json"


def _first_run(settings: Settings) -> None:
    """In development, on an empty database: an admin client, demo data, and clients to try it with."""
    from sqlalchemy import func, select

    from app.auth import clients
    from app.demo_seed import seed as seed_demo
    from app.models import Client

    runtime = start_runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            if session.execute(select(func.count()).select_from(Client)).scalar_one():
                return
            made = {}
            for key, org_type, org_id, name in (
                ("admin", "admin", settings.ttp_id, "First admin (development)"),
                ("municipality", "municipality", "GM0363", "Demo: Amsterdam analyst"),
                ("region_member", "municipality", "GM0080", "Demo: Leeuwarden analyst (Friesland agreed)"),
                ("privacy_officer", "privacy_officer", settings.ttp_id, "Demo: privacy officer"),
            ):
                client = clients.create_client(
                    session, name=name, org_type=org_type, org_id=org_id, scopes=None, ttp_id=settings.ttp_id,
                    known_municipalities=runtime.codelists.municipalities,
                )
                made[key] = {"client_id": client.client_id, "client_secret": client.client_secret, "org_id": org_id}
        if settings.demo_records:
            typer.echo(f"Loading synthetic demo data (ttp demo seed --records {settings.demo_records}) ...", err=True)
            result = seed_demo(runtime, records=settings.demo_records)
            typer.echo(f"demo data: {result.providers} providers, {result.consents} consents, "
                       f"{result.records} records", err=True)
            typer.echo("The releases due on the calendar are published in the background once the service runs "
                       "(a few minutes for the demo); until then a report answers 409 not-yet-published.", err=True)
        path = settings.resolved_data_dir / FIRST_RUN_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(made, handle, indent=2)
        typer.echo(f"Made clients (admin, municipality GM0363, region member GM0080, privacy officer); "
                   f"credentials in {path} (mode 0600).", err=True)
    finally:
        runtime.close()


#: The demo's web accounts, one per role: (key in first-run.json, org type, org id, e-mail address).
#: GM0363 (Amsterdam) and 98301012 (Zeewind, everywhere) have figures above the threshold on their
#: first page; GM0080 (Leeuwarden) is in Friesland, the demo's agreed region, for the region's pages;
#: 98302010 is the certified institution (JB/JR).
DEMO_ACCOUNTS = (
    ("gemeente", "municipality", "GM0363", "analist.amsterdam@demo.example"),
    ("gemeente_regio", "municipality", "GM0080", "analist.leeuwarden@demo.example"),
    ("aanbieder", "provider", "98301012", "kwaliteit.zeewind@demo.example"),
    ("aanbieder_jbjr", "provider", "98302010", "kwaliteit.noordster@demo.example"),
    ("privacy", "privacy_officer", None, "privacy.officer@demo.example"),
)


def _first_run_accounts(settings: Settings) -> None:
    """In development, beside the demo clients (a first-run.json exists) and when there are no web
    accounts yet: one demo account per role, their password and TOTP secret added to first-run.json
    (mode 0600) under ``accounts``. A data directory set up by hand (no first-run.json) gets none."""
    from sqlalchemy import func, select

    from app.accounts import service
    from app.accounts.keys import AccountKeys
    from app.models import UserAccount

    path = settings.resolved_data_dir / FIRST_RUN_FILE
    if not path.exists():
        return
    runtime = start_runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            if session.execute(select(func.count()).select_from(UserAccount)).scalar_one():
                return
            keys = AccountKeys.from_keyring(runtime.keyring)
            made = {}
            for key, org_type, org_id, email in DEMO_ACCOUNTS:
                account = service.create_account(
                    session, email=email, org_type=org_type, org_id=org_id or settings.ttp_id,
                    ttp_id=settings.ttp_id, known_municipalities=runtime.codelists.municipalities, keys=keys,
                )
                _audit_user_event(session, "users.add", account.account_id, account.org_type, account.org_id,
                                  {"oidc": False, "demo": True})
                made[key] = {"email": account.email, "password": account.password,
                             "totp_secret": account.totp_secret, "totp_uri": account.totp_uri,
                             "org_type": account.org_type, "org_id": account.org_id}
    finally:
        runtime.close()
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing["accounts"] = made
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(existing, handle, indent=2)
    typer.echo(f"Made demo web accounts ({', '.join(made)}); passwords and TOTP secrets in {path}.", err=True)


def _print_demo_accounts(first: Path, host: str, port: int) -> None:
    try:
        accounts = json.loads(first.read_text()).get("accounts") or {}
    except (OSError, ValueError):
        accounts = {}
    typer.echo(f"Open the pages: http://{host}:{port}/", err=True)
    if accounts:
        typer.echo("Demo accounts (the code is the TOTP of the secret: add it to an authenticator app, or "
                   "`oathtool --totp -b SECRET`):", err=True)
    for key, account in accounts.items():
        typer.echo(f"  {key:15} {account['email']}  password {account['password']}  "
                   f"TOTP secret {account['totp_secret']}", err=True)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="API processes (more than 1 needs PostgreSQL)")] = 1,
) -> None:
    """Run the service (in development: migrate, create keys and a first admin client first).
    The periodic jobs run in the API processes unless TTP_RUN_JOBS=false (then run `ttp worker`);
    with several processes each job still runs once (a lease in the database)."""
    import uvicorn

    from app.main import create_app
    from app.observability import UVICORN_OPTIONS

    settings = Settings()
    if not settings.is_production:
        settings.resolved_data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        db.upgrade(settings.resolved_database_url)
        _first_run(settings)
        _first_run_accounts(settings)
        first = settings.resolved_data_dir / FIRST_RUN_FILE
        if first.exists():
            _print_demo_accounts(first, host, port)
            typer.echo(
                "Get a token:  curl -s -u \"$(jq -r '.admin.client_id+\":\"+.admin.client_secret' "
                f"{first})\" -d grant_type=client_credentials http://{host}:{port}/v1/oauth/token",
                err=True,
            )
    if workers > 1:
        if settings.resolved_database_url.startswith("sqlite"):
            raise fail("ttp serve: --workers above 1 needs PostgreSQL (TTP_DATABASE_URL); SQLite is the "
                       "single-process embedded default")
        # Refuse an unsafe configuration or keys here, once, with one clear line: each worker
        # process would otherwise print its own traceback and uvicorn keep restarting them.
        start_runtime(settings).close()
        uvicorn.run("app.main:app_factory", factory=True, workers=workers, host=host, port=port,
                    log_level="warning", proxy_headers=True, **UVICORN_OPTIONS)
        return
    # Refuses (exit 2, one line) an unsafe configuration or keys, and a database that is not at
    # the latest migration ("run `ttp db upgrade`": production never migrates on start).
    app = create_app(settings, start_runtime(settings), publish_on_start=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True, **UVICORN_OPTIONS)


@cli.command()
def worker() -> None:
    """Run the periodic jobs (releases, retention and linkage settling, audit checkpoints) without
    serving HTTP: beside API processes started with TTP_RUN_JOBS=false. Stops on SIGTERM or Ctrl-C."""
    import asyncio
    import signal

    from app.maintenance import scheduled_jobs

    runtime = start_runtime()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        runtime.record_start()
        async with scheduled_jobs(runtime, publish_on_start=True):
            typer.echo("ttp worker: running the periodic jobs", err=True)
            await stop.wait()

    try:
        asyncio.run(run())
    finally:
        runtime.close()


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
    runtime = start_runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            made = clients.create_client(
                session, name=name, org_type=org_type, org_id=org_id, scopes=scope,
                ttp_id=settings.ttp_id, known_municipalities=runtime.codelists.municipalities,
                public_key_pem=public_key.read_text() if public_key else None,
            )
            _audit_client_event(session, "clients.create", made.client_id, made.org_type, made.org_id,
                                {"scopes": " ".join(made.scopes), "private_key_jwt": public_key is not None})
    except clients.ClientError as exc:
        raise fail(f"ttp clients add: {exc}") from None
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


def _audit_client_event(session: Session, action: str, client_id: str, org_type: str, org_id: str,
                        detail: dict[str, str | bool | None]) -> None:
    """An operator's change to a machine client, in the audit log (never a secret or a key)."""
    from app.audit import log as audit_log

    audit_log.append(session, audit_log.AuditEvent(
        action=action, result="success", org_type="admin", org_id=Settings().ttp_id, role="admin",
        resource=f"clients/{client_id}", source="cli",
        detail={"client_org_type": org_type, "client_org_id": org_id, **detail},
    ))


def _change_client(client_id: str, command: str, change: Callable[[Session, Runtime, Client], dict[str, Any]],
                   ) -> dict[str, Any]:
    """Apply ``change`` to the client, audited as ``clients.<command>`` in the same transaction."""
    from app.auth import clients

    runtime = start_runtime()
    try:
        with db.session_scope(runtime.sessions) as session:
            client = clients.by_client_id(session, client_id, for_update=True)
            if client is None:
                raise fail(f"ttp clients {command}: no client {client_id!r}")
            try:
                result = change(session, runtime, client)
            except clients.ClientError as exc:
                raise fail(f"ttp clients {command}: {exc}") from None
            audited = {k: v for k, v in result.items() if k != "client_secret"}
            _audit_client_event(session, f"clients.{command.replace('-', '_')}", client.client_id,
                                client.org_type, client.org_id, audited)
    finally:
        runtime.close()
    return result


@clients_cli.command("list")
def clients_list(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False) -> None:
    """List machine clients with their state and last use (never a secret); audited."""
    from datetime import UTC, datetime, timedelta

    from app.audit import log as audit_log
    from app.auth import clients

    runtime = start_runtime()
    try:
        grace = timedelta(hours=runtime.privacy.configuration.limits.secret_rotation_grace_hours)
        with db.session_scope(runtime.sessions) as session:
            rows = clients.list_clients(session, datetime.now(UTC), grace=grace)
            audit_log.append(session, audit_log.AuditEvent(
                action="clients.list", result="success", org_type="admin", org_id=runtime.settings.ttp_id,
                role="admin", resource="clients", source="cli", detail={"count": len(rows)}))
    finally:
        runtime.close()
    for row in rows:
        shown = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
        if as_json:
            typer.echo(json.dumps(shown))
        else:
            state = "active" if row["active"] else "disabled"
            if row["locked_until"]:
                state += f", locked until {shown['locked_until']}"
            typer.echo(f"{row['client_id']}  {row['org_type']} {row['org_id']}  {state}  "
                       f"{'+'.join(row['auth_methods'])}  last token {shown['last_token_at'] or '-'}  {row['name']}")


@clients_cli.command("disable")
def clients_disable(client_id: Annotated[str, typer.Option("--client-id", help="The client's id")]) -> None:
    """Disable a client: it gets no token and its unexpired tokens stop working at once."""
    from app.auth import clients

    _change_client(client_id, "disable",
                   lambda session, _runtime, client: {"changed": clients.set_active(session, client, False)})
    typer.echo("disabled; its tokens no longer work")


@clients_cli.command("enable")
def clients_enable(client_id: Annotated[str, typer.Option("--client-id", help="The client's id")]) -> None:
    """Enable a disabled client (its unexpired tokens work again) and lift a lockout."""
    from app.auth import clients, lockout

    _change_client(client_id, "enable", lambda session, _runtime, client: {
        "changed": clients.set_active(session, client, True),
        "lock_lifted": lockout.unlock(session, client.client_id)})
    typer.echo("enabled")


@clients_cli.command("rotate-secret")
def clients_rotate_secret(
    client_id: Annotated[str, typer.Option("--client-id", help="The client's id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """A new secret, printed once; the old one keeps working for the configured grace
    ([limits] secret_rotation_grace_hours)."""
    from datetime import timedelta

    from app.auth import clients

    def rotate(session: Session, runtime: Runtime, client: Client) -> dict[str, Any]:
        grace = timedelta(hours=runtime.privacy.configuration.limits.secret_rotation_grace_hours)
        rotated = clients.rotate_secret(session, client, grace)
        until = rotated.previous_valid_until.isoformat() if rotated.previous_valid_until else None
        return {"client_secret": rotated.client_secret, "previous_secret_valid_until": until}

    result = _change_client(client_id, "rotate-secret", rotate)
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, **result}))
    else:
        typer.echo(f"client_id: {client_id}")
        typer.echo(f"client_secret: {result['client_secret']}")
        typer.echo(f"previous_secret_valid_until: {result['previous_secret_valid_until'] or '-'}")
        typer.echo("The secret is shown only now; it is stored as a hash.", err=True)


@clients_cli.command("set-key")
def clients_set_key(
    client_id: Annotated[str, typer.Option("--client-id", help="The client's id")],
    public_key: Annotated[Path, typer.Option(help="PEM public key (EC P-256 or RSA >= 2048) for private_key_jwt")],
) -> None:
    """Register or replace the client's public key for private_key_jwt."""
    from app.auth import clients

    try:
        text = public_key.read_text()
    except OSError as exc:
        raise fail(f"ttp clients set-key: cannot read {public_key}: {exc.strerror}") from None
    result = _change_client(client_id, "set-key", lambda session, _runtime, client: {
        "replaced": clients.set_public_key(session, client, text)})
    typer.echo("public key replaced" if result["replaced"] else "public key registered")


def _audit_user_event(session: Session, action: str, account_id: str, org_type: str, org_id: str,
                     detail: dict[str, str | bool]) -> None:
    """An operator's change to an account, in the audit log (never the address or a secret)."""
    from app.audit import log as audit_log

    audit_log.append(session, audit_log.AuditEvent(
        action=action, result="success", org_type="admin", org_id=Settings().ttp_id, role="admin",
        resource=f"users/{account_id}", source="cli",
        detail={"account_org_type": org_type, "account_org_id": org_id, **detail},
    ))


@users_cli.command("add")
def users_add(
    org_type: Annotated[str, typer.Option(help="municipality | provider | privacy_officer")],
    org_id: Annotated[str, typer.Option(help="GMxxxx, AGB code, or the TTP's own id")],
    email: Annotated[str, typer.Option(help="The person's e-mail address (their login name)")],
    oidc_issuer: Annotated[str | None, typer.Option(help="Log in only through this OIDC issuer ...")] = None,
    oidc_subject: Annotated[str | None, typer.Option(help="... as this subject (no password, no TOTP)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Make a web account; prints the one-time password and the TOTP secret once."""
    from app.accounts import service
    from app.accounts.keys import AccountKeys

    settings = Settings()
    runtime = start_runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            made = service.create_account(
                session, email=email, org_type=org_type, org_id=org_id, ttp_id=settings.ttp_id,
                known_municipalities=runtime.codelists.municipalities, keys=AccountKeys.from_keyring(runtime.keyring),
                oidc_issuer=oidc_issuer, oidc_subject=oidc_subject,
            )
            _audit_user_event(session, "users.add", made.account_id, made.org_type, made.org_id,
                              {"oidc": oidc_issuer is not None})
    except service.AccountError as exc:
        raise fail(f"ttp users add: {exc}") from None
    finally:
        runtime.close()
    result = {"account_id": made.account_id, "email": made.email, "org_type": made.org_type, "org_id": made.org_id,
              "password": made.password, "totp_secret": made.totp_secret, "totp_uri": made.totp_uri}
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            if value is not None:
                typer.echo(f"{key}: {value}")
        if made.password:
            typer.echo("The password and the TOTP secret are shown only now; hand them over separately.", err=True)


@users_cli.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False) -> None:
    """List web accounts (never a secret)."""
    from sqlalchemy import select

    from app.models import UserAccount

    settings = Settings()
    runtime = start_runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            rows = [
                {"account_id": a.account_id, "email": a.email, "org_type": a.org_type, "org_id": a.org_id,
                 "disabled": a.disabled, "oidc": a.oidc_subject is not None,
                 "locked_until": a.locked_until.isoformat() if a.locked_until else None,
                 "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None}
                for a in session.execute(select(UserAccount).order_by(UserAccount.id)).scalars()
            ]
    finally:
        runtime.close()
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row))
        else:
            state = "disabled" if row["disabled"] else "active"
            typer.echo(f"{row['account_id']}  {row['email']}  {row['org_type']} {row['org_id']}  {state}  "
                       f"last login {row['last_login_at'] or '-'}")


def _change_user(email: str, action: str, change: str) -> str | None:
    from app.accounts import service

    settings = Settings()
    runtime = start_runtime(settings)
    try:
        with db.session_scope(runtime.sessions) as session:
            account = service.by_email(session, email)
            if account is None:
                raise fail(f"ttp users {change}: no account with that address")
            password = None
            if change == "disable":
                service.set_disabled(session, account, True)
            elif change == "enable":
                service.set_disabled(session, account, False)
            else:
                password = service.reset_password(session, account)
            _audit_user_event(session, action, account.account_id, account.org_type, account.org_id, {})
    finally:
        runtime.close()
    return password


@users_cli.command("disable")
def users_disable(email: Annotated[str, typer.Option(help="The account's e-mail address")]) -> None:
    """Disable an account and end its sessions."""
    _change_user(email, "users.disable", "disable")
    typer.echo("disabled; its sessions have ended")


@users_cli.command("enable")
def users_enable(email: Annotated[str, typer.Option(help="The account's e-mail address")]) -> None:
    """Enable a disabled account."""
    _change_user(email, "users.enable", "enable")
    typer.echo("enabled")


@users_cli.command("reset-password")
def users_reset_password(email: Annotated[str, typer.Option(help="The account's e-mail address")]) -> None:
    """A new one-time password (printed once); ends the account's sessions and lifts a lockout."""
    password = _change_user(email, "users.reset_password", "reset-password")
    typer.echo(f"password: {password}")
    typer.echo("The password is shown only now.", err=True)


@keys_cli.command("init")
def keys_init() -> None:
    """Create a production key directory (TTP_KEY_DIR) with new keys for every purpose."""
    from app.crypto.keyring import Keyring, KeyringError

    settings = Settings()
    try:
        ring = Keyring.create(settings.resolved_key_dir, origin="production")
    except KeyringError as exc:
        raise fail(f"ttp keys init: {exc}") from None
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
        raise fail(f"ttp pseudonymise: {exc}") from None
    lines = (line.rstrip("\r\n") for line in sys.stdin)
    try:
        pseudonyms = list(pseudonymise_lines(lines, key))
    except InvalidBSNLine as exc:
        raise fail(f"ttp pseudonymise: {exc}; nothing was written") from None
    sys.stdout.write("".join(p + "\n" for p in pseudonyms))


def _records_session(settings: Settings) -> tuple[Runtime, AbstractContextManager[Session]]:
    runtime = start_runtime(settings)
    return runtime, db.session_scope(runtime.sessions)


@cli.command()
def verify(
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Replace the aggregate store by the recomputation")
    ] = False,
) -> None:
    """Decrypt every record, recompute the aggregate store and compare (exit 1 on a difference)."""
    from app.records import ingestion

    settings = Settings()
    runtime, scope = _records_session(settings)
    try:
        with scope as session:
            result = ingestion.verify(session, runtime.records)
            if rebuild and not result.ok:
                cells = ingestion.rebuild(session, runtime.records)
                typer.echo(f"rebuilt the aggregate store: {cells} cells", err=True)
    finally:
        runtime.close()
    if result.ok:
        typer.echo(f"aggregate store matches: {result.records} records, {result.cells} cells")
        return
    typer.echo(f"aggregate store differs from the records in {len(result.differences)} cells:", err=True)
    for key, stored, recomputed in result.differences[:20]:
        where = f"{key.municipality} {key.period} provider {key.provider_id} indicator {key.indicator}={key.value}"
        typer.echo(f"  {where}: stored {stored}, recomputed {recomputed}", err=True)
    raise typer.Exit(0 if rebuild else 1)


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Make a new key-encryption key; new batches use it, old data stays readable."""
    from app.audit.events import record_key_event
    from app.crypto.keyring import Keyring

    settings = Settings()
    runtime = start_runtime(settings)
    try:
        previous = runtime.keyring.active["kek"]
        ring = Keyring.open(settings.resolved_key_dir)
        key_id = ring.add("kek")
        with db.session_scope(runtime.sessions) as session:
            record_key_event(session, "keys.rotate", {"purpose": "kek", "key_id": key_id, "previous_key_id": previous},
                             org_id=settings.ttp_id)
    finally:
        runtime.close()
    typer.echo(f"new key-encryption key {key_id} is active; run `ttp keys rewrap` to move data keys onto it")


@keys_cli.command("rewrap")
def keys_rewrap() -> None:
    """Re-wrap every stored data key under the active key-encryption key (payloads untouched)."""
    from sqlalchemy import select

    from app.accounts.keys import AccountKeys
    from app.accounts.service import reseal_totp_secrets
    from app.audit.events import record_key_event
    from app.consents import registry
    from app.crypto.envelope import WrappedKey, rewrap
    from app.models import RecordBatch

    settings = Settings()
    runtime = start_runtime(settings)
    try:
        keks = runtime.keyring.keks()
        active = runtime.keyring.active_kek()
        with db.session_scope(runtime.sessions) as session:
            batches = session.execute(select(RecordBatch).where(RecordBatch.kek_id != active.key_id)).scalars().all()
            for batch in batches:
                new = rewrap(WrappedKey(kek_id=batch.kek_id, blob=batch.wrapped_key), keks, active)
                batch.kek_id, batch.wrapped_key = new.kek_id, new.blob
            consents = registry.rewrap_all(session, keks, active)
            resealed = reseal_totp_secrets(session, AccountKeys.from_keyring(runtime.keyring))
            record_key_event(session, "keys.rewrap", {"kek_id": active.key_id, "rewrapped": len(batches),
                                                      "consents_rewrapped": consents,
                                                      "totp_secrets_resealed": resealed},
                             org_id=settings.ttp_id)
    finally:
        runtime.close()
    typer.echo(f"re-wrapped {len(batches)} data keys of record batches and {consents} of consents "
               f"under {active.key_id}")


@keys_cli.command("retire")
def keys_retire(kek: Annotated[str, typer.Option("--kek", help="Id of the key-encryption key to remove")]) -> None:
    """Remove an old key-encryption key once no data key is wrapped under it."""
    from sqlalchemy import func, select

    from app.audit.events import record_key_event
    from app.consents import registry
    from app.models import RecordBatch, UserAccount

    settings = Settings()
    runtime = start_runtime(settings)
    try:
        if kek == runtime.keyring.active["kek"]:
            raise fail("ttp keys retire: that is the active key-encryption key")
        if kek not in runtime.keyring.key_ids("kek"):
            raise fail(f"ttp keys retire: no key-encryption key {kek}")
        with db.session_scope(runtime.sessions) as session:
            still = session.execute(
                select(func.count()).select_from(RecordBatch).where(RecordBatch.kek_id == kek)
            ).scalar_one() + session.execute(
                select(func.count()).select_from(UserAccount).where(UserAccount.totp_kek_id == kek)
            ).scalar_one() + registry.under_kek(session, kek)
            if still:
                raise fail(f"ttp keys retire: {still} data keys (of record batches and consents) or TOTP "
                           f"secrets are still wrapped under {kek}; run `ttp keys rewrap`")
            (settings.resolved_key_dir / "kek" / f"{kek}.key").unlink()
            record_key_event(session, "keys.retire", {"purpose": "kek", "key_id": kek}, org_id=settings.ttp_id)
    finally:
        runtime.close()
    typer.echo(f"removed key-encryption key {kek}")


@retention_cli.command("run")
def retention_run() -> None:
    """Remove records past the configured retention, and their counts (audited, counts only)."""
    from app import maintenance

    settings = Settings()
    runtime = start_runtime(settings)
    try:
        removed = maintenance.retention(runtime, source="cli")
    finally:
        runtime.close()
    months = runtime.privacy.configuration.retention.records_months
    typer.echo(f"retention: removed {removed} records more than {months} months past their end")


@demo_cli.command("seed")
def demo_seed(
    records: Annotated[int, typer.Option(help="How many synthetic records")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed (the same seed gives the same population)")] = 2025,
) -> None:
    """Load synthetic demo data (providers, consents, records) through the real ingestion path."""
    from app.demo_seed import seed as seed_demo

    settings = Settings()
    if settings.is_production:
        raise fail("ttp demo seed: refused in production (synthetic data only belongs in development)")
    runtime = start_runtime(settings)
    try:
        result = seed_demo(runtime, records=records, seed=seed)
    finally:
        runtime.close()
    typer.echo(f"demo data: {result.providers} providers, {result.consents} consents, {result.records} records")


@records_cli.command("template")
def records_template(
    framework: Annotated[str, typer.Option(help="jeugdhulp | jeugdbescherming | jeugdreclassering")] = "jeugdhulp",
    for_submit: Annotated[bool, typer.Option(
        "--for-submit", help="The export `ttp submit` reads: bsn instead of pseudonym, and the consent columns")
    ] = False,
) -> None:
    """Print the CSV header (and one example row) for POST /v1/records/batches, or for `ttp submit`."""
    from provider_tool.cli import records_template as provider_template

    provider_template(framework=framework, for_submit=for_submit)


def main() -> None:
    try:
        cli()
    except BrokenPipeError:  # e.g. `ttp pseudonymise | head`
        sys.exit(0)
    except Exception as exc:
        # No traceback: a database error's text carries the statement's values (pseudonyms, a
        # secret's hash). The JSON log line names the error's type; nothing else is printed.
        from app.observability import configure_logging

        configure_logging()
        logging.getLogger("ttp.cli").error("unexpected error", extra={"error_type": type(exc).__name__})
        typer.echo(f"ttp: unexpected error ({type(exc).__name__}); see the log line above", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
