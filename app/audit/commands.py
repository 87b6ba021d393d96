"""``ttp audit``: verify the audit log and make signed checkpoints, with the service's settings.

Registered in ``app.cli`` with ``cli.add_typer(audit_cli, name="audit")``.

* ``ttp audit verify [--checkpoint FILE]``: exit 0 when the log is intact and every release's content
  hash and signature hold and match the hash its audit entry recorded (a summary on stdout),
  1 with the first problem on stderr, 2 when it cannot run (bad settings, unreadable file).
* ``ttp audit checkpoint [--output FILE]``: signs a checkpoint of the log as it is now (or gives
  the newest when the log has not grown) and prints it as JSON, or saves it (mode 0600) to FILE.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app import db
from app.cli_support import fail, start_runtime

audit_cli = typer.Typer(help="The audit log: verify it, make signed checkpoints.", no_args_is_help=True)


def load_saved_checkpoint(path: Path) -> tuple[Any, Ed25519PublicKey | None]:
    """A checkpoint JSON file as saved from ``GET /v1/audit/checkpoint`` or ``ttp audit checkpoint``:
    the checkpoint, and the public key saved with it (if any). Raises ValueError naming the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a JSON checkpoint: {exc}") from None
    return parse_saved_checkpoint(text, str(path))


def parse_saved_checkpoint(text: str, name: str) -> tuple[Any, Ed25519PublicKey | None]:
    """The checkpoint in ``text`` (a saved checkpoint file named ``name``) and the public key saved
    with it (if any). Raises ValueError naming the problem. The privacy officer's verification
    page reads an uploaded file with it."""
    import base64
    import binascii

    from app.audit import checkpoint_format as signing

    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not a JSON checkpoint: {exc}") from None
    saved = signing.from_json(document)
    key = None
    raw = document.get("public_key") if isinstance(document, dict) else None
    if raw is not None:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(raw), validate=True))
        except (binascii.Error, ValueError):
            raise ValueError(f"{name}: field 'public_key' is not a base64 Ed25519 public key") from None
    return saved, key


@audit_cli.command("verify")
def verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="A checkpoint JSON saved earlier: check that the log only grew since"),
    ] = None,
) -> None:
    """Verify the audit log: every entry, dense numbering, every signed checkpoint (and a saved one)."""
    from app.audit.verification import verify_log
    from app.reports.releases import verify_releases

    saved = saved_key = None
    if checkpoint is not None:
        try:
            saved, saved_key = load_saved_checkpoint(checkpoint)
        except ValueError as exc:
            raise fail(f"ttp audit verify: {exc}") from None
    runtime = start_runtime()
    try:
        with db.session_scope(runtime.sessions) as session:
            outcome = verify_log(session, runtime.keyring, saved, saved_key)
            published = verify_releases(session, runtime.keyring)
    finally:
        runtime.close()
    if not outcome.ok:
        raise fail(outcome.summary(), 1)
    if not published.ok:
        raise fail(f"{outcome.summary()}\n{published.summary()}", 1)
    typer.echo(outcome.summary())
    typer.echo(published.summary())


@audit_cli.command("checkpoint")
def checkpoint(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Save the checkpoint JSON to this file")] = None,
) -> None:
    """Sign a checkpoint of the log as it is now and print it (or save it) as JSON."""
    from app.audit import checkpoint_store

    runtime = start_runtime()
    try:
        with db.session_scope(runtime.sessions) as session:
            made = checkpoint_store.make_checkpoint(session, runtime.keyring)
            cp = made.record.as_checkpoint()
        document = checkpoint_store.checkpoint_document(cp, checkpoint_store.public_key(runtime.keyring, cp.key_id))
    finally:
        runtime.close()
    text = json.dumps(document, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise fail(f"ttp audit checkpoint: cannot write {output}: {exc.strerror}") from None
    typer.echo(f"saved the checkpoint of {cp.size} entries (root {cp.root_hash.hex()}) to {output}", err=True)
