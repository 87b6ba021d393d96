"""``ttp submit --withdraw REFS``: withdraw consents by the provider's own references.

``REFS`` is either the references separated by commas (``dossier-1,dossier-2``) or ``@FILE``: a text
file with one reference per line (blank lines are skipped; use it for many references, or for one
holding a comma). Surrounding whitespace is dropped, as ``ttp submit`` drops it from the export.

Each reference is looked up with ``GET /v1/consents?consent_ref=`` (the TTP answers for the
registering provider only) and withdrawn with ``POST /v1/consents/{consent_id}/withdraw``; the TTP
removes the consent's records at once. Every reference gets one line on stdout: ``withdrawn``,
``already withdrawn`` or ``not found``. A reference that looks like a BSN is not sent and not
printed (it is named by its position). Exit 0 when every reference was withdrawn (now or before),
1 when any was not found or refused here. ``--dry-run`` only looks the references up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from provider_tool.client import ClientError, Credentials, TtpClient, check_server_url
from provider_tool.validation import MAX_CONSENT_REF
from pseudonymisation.bsn import looks_like_bsn

WITHDRAWN, ALREADY, NOT_FOUND, REFUSED, WOULD = (
    "withdrawn", "already withdrawn", "not found", "not sent", "would be withdrawn")


class WithdrawError(Exception):
    """The run stops; the message says why and what to do."""


def parse_references(value: str) -> list[str]:
    """The references of ``--withdraw``: comma-separated, or ``@FILE`` with one a line; in order, once each."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            parts = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise WithdrawError(f"--withdraw @{path}: cannot read it ({type(exc).__name__}); give a text "
                                "file with one consent reference a line") from None
    else:
        parts = value.split(",")
    references = list(dict.fromkeys(part.strip() for part in parts if part.strip()))
    if not references:
        raise WithdrawError("--withdraw: no consent references given (dossier-1,dossier-2 or @FILE)")
    return references


@dataclass
class WithdrawOutcome:
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {WITHDRAWN: 0, ALREADY: 0, NOT_FOUND: 0, REFUSED: 0, WOULD: 0}
        for result in self.results:
            counts[result["result"]] += 1
        return {name: n for name, n in counts.items() if n or name in (WITHDRAWN, ALREADY, NOT_FOUND)}

    @property
    def exit_code(self) -> int:
        return 1 if any(r["result"] in (NOT_FOUND, REFUSED) for r in self.results) else 0


def run_withdraw(
    references: list[str],
    server: str,
    credentials: Callable[[], Credentials],
    *,
    dry_run: bool = False,
    receipt: Path | None = None,
    http: httpx.Client | None = None,
    out: Console | None = None,
    err: Console | None = None,
) -> WithdrawOutcome:
    """Withdraw every reference; one line each on ``out``. Raises :class:`WithdrawError` for a stop."""
    out = out or Console()
    err = err or Console(stderr=True)
    try:
        base = check_server_url(server)
        client = TtpClient(base, credentials(), http=http,
                           on_wait=lambda message: err.print(message, markup=False, highlight=False))
    except ClientError as exc:
        raise WithdrawError(str(exc)) from None
    outcome = WithdrawOutcome()
    try:
        for position, reference in enumerate(references, start=1):
            result = _withdraw_one(client, reference, position, dry_run=dry_run)
            outcome.results.append(result)
            shown = result.get("consent_ref", f"reference {position}")
            note = f" ({result['note']})" if result.get("note") else ""
            out.print(f"{shown}: {result['result']}{note}", markup=False, highlight=False)
    except ClientError as exc:
        raise WithdrawError(f"{exc} ({len(outcome.results)} of {len(references)} references done)") from None
    finally:
        if http is None:
            client.close()
    summary = ", ".join(f"{name} {n}" for name, n in outcome.counts.items())
    out.print(f"{len(references)} references: {summary}", markup=False, highlight=False)
    if receipt is not None:
        _write_json(receipt, {"withdraw": outcome.results, "counts": outcome.counts, "dry_run": dry_run,
                              "server": base})
    return outcome


def _withdraw_one(client: TtpClient, reference: str, position: int, *, dry_run: bool) -> dict[str, Any]:
    if looks_like_bsn(reference):
        return {"position": position, "result": REFUSED,
                "note": "it looks like a BSN: not sent, not shown; a consent_ref is never a BSN"}
    result: dict[str, Any] = {"consent_ref": reference, "position": position}
    if len(reference) > MAX_CONSENT_REF or not reference.isprintable():
        return result | {"result": REFUSED,
                         "note": f"a consent_ref is printable text of at most {MAX_CONSENT_REF} characters"}
    found = client.get("/v1/consents", params={"consent_ref": reference}, what="looking up a consent")
    if found.status_code == 404:
        return result | {"result": NOT_FOUND}
    _expect_ok(found, "looking up a consent")
    consent_id, status = str(found.json()["consent_id"]), str(found.json()["status"])
    result["consent_id"] = consent_id
    if status == "withdrawn":
        return result | {"result": ALREADY}
    if dry_run:
        return result | {"result": WOULD, "note": f"now {status}; --dry-run: nothing was sent"}
    answer = client.post_json(f"/v1/consents/{consent_id}/withdraw", None, what="withdrawing a consent")
    if answer.status_code == 404:  # withdrawn and removed by another hand in between
        return result | {"result": NOT_FOUND}
    _expect_ok(answer, "withdrawing a consent")
    return result | {"result": WITHDRAWN}


def _expect_ok(response: httpx.Response, what: str) -> None:
    if response.status_code == 200:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    raise ClientError(f"{what}: the TTP answered {response.status_code}: {detail or response.reason_phrase}")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
