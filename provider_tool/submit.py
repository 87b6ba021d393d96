"""``ttp submit``: the provider's export to the TTP in one command, resumable, the BSN staying here.

1. read the export (CSV, XLSX, JSON) and check every row with the service's own schemas and consent
   rules; ``--dry-run`` stops here and prints every problem by line and column (never a value);
2. pseudonymise every BSN with the scheme's stage-1 key (mode 0600 checked);
3. register the consents in bulk (``POST /v1/consents/batches``; a consent registered before, by an
   earlier run or otherwise, gives its consent_id back);
4. upload the records in batches (``POST /v1/records/batches``), writing the journal after every
   acknowledged batch, with a progress bar;
5. print a receipt (accepted, replaced, refused by reason and line, pending for the next release)
   and write it as JSON with ``--receipt``.

Rows the TTP refuses (a 400 or 409 naming them) are taken out of their batch, named in the receipt,
and the rest of the batch is sent again; any other refusal stops the run with the TTP's reason.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from provider_tool.client import ClientError, Credentials, TtpClient, check_server_url
from provider_tool.export import Export, ExportError, read_export
from provider_tool.journal import Journal, JournalError, file_digest
from provider_tool.validation import Checked, ConsentToRegister, Prepared, Problem, check
from pseudonymisation.keys import KeyFileError, load_key_file

MAX_BATCH = 10_000
_CONSENT_FIELD = re.compile(r"^consents\[(\d+)\]\.?(.*)$")


class SubmitError(Exception):
    """The run stops; the message says why and what to do."""


@dataclass
class Options:
    export: Path
    server: str
    key_file: Path
    dry_run: bool = False
    batch_size: int = MAX_BATCH
    receipt: Path | None = None


@dataclass
class Outcome:
    """What a run did: the receipt and the exit code (0 all in, 1 some refused)."""

    receipt: dict[str, Any]
    exit_code: int
    problems: list[Problem] = field(default_factory=list)


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} records/s" if speed else "", style="progress.data.speed")


def _where(export: Export, problem: Problem) -> str:
    return f"{export.unit} {problem.line}, column {problem.column}: {problem.reason}"


def run(
    options: Options,
    credentials: Callable[[], Credentials] | None = None,
    *,
    http: httpx.Client | None = None,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
    today: date | None = None,
) -> Outcome:
    """Run ``ttp submit``; raises :class:`SubmitError` for a stop (nothing half-done is lost)."""
    err = console or Console(stderr=True)
    if not 1 <= options.batch_size <= MAX_BATCH:
        raise SubmitError(f"--batch-size must be from 1 to {MAX_BATCH}")
    try:
        key = load_key_file(options.key_file)
    except KeyFileError as exc:
        raise SubmitError(f"--key-file: {exc}") from None
    try:
        export = read_export(options.export)
    except ExportError as exc:
        raise SubmitError(f"{options.export.name}: {exc}") from None
    day = today or datetime.now(UTC).date()
    started = time.monotonic()
    checked = check(export, key, today=day)
    timings = {"read_and_check_seconds": round(time.monotonic() - started, 2)}
    for problem in checked.problems:
        err.print(_where(export, problem), markup=False, highlight=False)
    bad_lines = len({p.line for p in checked.problems})
    if options.dry_run:
        err.print(f"{checked.total} rows: {checked.total - bad_lines} ready, {bad_lines} with problems; "
                  "nothing was sent (--dry-run)", markup=False)
        receipt = {"export": export.path.name, "dry_run": True, "rows": checked.total,
                   "ready": checked.total - bad_lines, "refused": [p.as_dict() for p in checked.problems]}
        _write_receipt(options.receipt, receipt)
        return Outcome(receipt, 1 if checked.problems else 0, checked.problems)

    try:
        server = check_server_url(options.server)
        journal, previous = Journal.open(export.path, server)
    except (ClientError, JournalError) as exc:
        raise SubmitError(str(exc)) from None
    if credentials is None:
        raise SubmitError("no credentials")
    try:
        creds = credentials()
    except ClientError as exc:
        raise SubmitError(str(exc)) from None
    current = file_digest(export.path)
    if previous is not None and previous != current:
        err.print("The export changed since the last run: rows acknowledged before are skipped, "
                  "changed rows are sent again (they replace their earlier version at the TTP).", markup=False)
    journal.export_sha256 = current
    client = TtpClient(server, creds, http=http, sleep=sleep,
                       on_wait=lambda message: err.print(message, markup=False, highlight=False))
    submission = _Submission(export, checked, journal, client, err, options.batch_size)
    try:
        submission.consents()
        timings["consents_seconds"] = round(time.monotonic() - started - timings["read_and_check_seconds"], 2)
        submission.records()
    except ClientError as exc:
        raise SubmitError(str(exc)) from None
    finally:
        if http is None:
            client.close()
    timings["total_seconds"] = round(time.monotonic() - started, 2)
    receipt = submission.receipt()
    receipt["timings"] = timings
    _print_receipt(err, export, receipt)
    _write_receipt(options.receipt, receipt)
    return Outcome(receipt, 1 if receipt["refused"] else 0, submission.refused)


class _Submission:
    def __init__(self, export: Export, checked: Checked, journal: Journal, client: TtpClient, console: Console,
                 batch_size: int) -> None:
        self.export, self.checked, self.journal, self.client = export, checked, journal, client
        self.console, self.batch_size = console, batch_size
        self.refused: list[Problem] = list(checked.problems)
        self.consent_ids: dict[str, str] = {}
        self.counts = {"consents_registered": 0, "consents_reused": 0, "consents_from_journal": 0,
                       "records_sent": 0, "records_already_acknowledged": 0}
        self.run_batches: list[dict[str, Any]] = []

    # -- consents ---------------------------------------------------------------------------------
    def consents(self) -> None:
        todo: list[ConsentToRegister] = []
        for c in self.checked.consents:
            known = self.journal.consent_id(c.consent_ref)
            if known is not None:
                self.consent_ids[c.consent_ref] = known
                self.counts["consents_from_journal"] += 1
            else:
                todo.append(c)
        if not todo:
            return
        with self._progress() as progress:
            task = progress.add_task("consents", total=len(todo))
            for chunk in _chunks(todo, self.batch_size):
                self._register(chunk)
                progress.advance(task, len(chunk))

    def _register(self, chunk: list[ConsentToRegister]) -> None:
        while chunk:
            response = self.client.post_json("/v1/consents/batches", {"consents": [c.body for c in chunk]},
                                             what="registering consents")
            if response.status_code == 200:
                answer = response.json()
                pairs = {c.consent_ref: item["consent_id"] for c, item in zip(chunk, answer["consents"], strict=True)}
                self.consent_ids.update(pairs)
                self.journal.add_consents(pairs)
                self.journal.save()
                self.counts["consents_registered"] += int(answer.get("created", 0))
                self.counts["consents_reused"] += int(answer.get("existing", 0))
                return
            if response.status_code == 404:
                raise SubmitError(f"the TTP at {self.client.server} has no POST /v1/consents/batches; "
                                  "it needs a newer version of the service")
            bad = self._refusals(response, [c.lines for c in chunk], _consent_index)
            chunk = [c for i, c in enumerate(chunk) if i not in bad]

    # -- records ----------------------------------------------------------------------------------
    def records(self) -> None:
        ready: list[Prepared] = []
        for row in self.checked.rows:
            consent_id = self.consent_ids.get(row.consent_ref)
            if consent_id is None:
                continue  # its consent was refused; the rows are named already
            row.record["consent_id"] = consent_id
            if self.journal.acknowledged(row.record):
                self.counts["records_already_acknowledged"] += 1
            else:
                ready.append(row)
        in_export = {str(row.record.get("record_id")) for row in self.export.rows}
        self.no_longer_in_export = len(self.journal.records) - sum(
            1 for record_id in in_export if self.journal.known_record(record_id))
        if not ready:
            return
        with self._progress() as progress:
            task = progress.add_task("records", total=len(ready))
            for batch in _chunks(ready, self.batch_size):
                self._upload(batch, lambda n: progress.advance(task, n))

    def _upload(self, batch: list[Prepared], advance: Callable[[int], None]) -> None:
        size = len(batch)
        while batch:
            records = [row.record for row in batch]
            response = self.client.post_json("/v1/records/batches", {"records": records}, what="uploading records")
            if response.status_code == 200:
                answer = response.json()
                summary = {"batch_id": answer["batch_id"], "accepted": answer["accepted"],
                           "replaced": answer["replaced"], "records": len(records),
                           "lines": [batch[0].line, batch[-1].line], "receipt": answer.get("receipt", [])}
                self.journal.add_batch(records, summary)
                self.journal.save()
                self.run_batches.append(summary)
                self.counts["records_sent"] += len(records)
                advance(size)
                return
            if response.status_code == 413:
                raise SubmitError(f"the TTP refused a batch of {len(records)} records as too large "
                                  f"({_detail(response)}); use a smaller --batch-size")
            bad = self._refusals(response, [(row.line,) for row in batch], _record_index)
            batch = [row for i, row in enumerate(batch) if i not in bad]

    # -- refusals ---------------------------------------------------------------------------------
    def _refusals(self, response: httpx.Response, lines: Sequence[tuple[int, ...]],
                  index_of: Callable[[dict[str, Any]], tuple[int | None, str]]) -> set[int]:
        """The positions the TTP refused (recorded as refused rows), or a stop when it named none."""
        body = _json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if response.status_code in (400, 409) and isinstance(errors, list) and errors:
            bad: set[int] = set()
            for error in errors:
                index, column = index_of(error) if isinstance(error, dict) else (None, "")
                if index is None or not 0 <= index < len(lines):
                    bad = set()
                    break
                bad.add(index)
                reason = str(error.get("reason", "refused by the TTP"))
                for line in lines[index]:
                    self.refused.append(Problem(line, column or "(the row)", f"refused by the TTP: {reason}"))
            if bad:
                return bad
        where = ""
        if isinstance(errors, list) and errors:
            where = "; " + "; ".join(f"{e.get('field')}: {e.get('reason')}" for e in errors[:10] if isinstance(e, dict))
        raise SubmitError(f"the TTP answered {response.status_code}: {_detail(response)}{where}")

    # -- the receipt ------------------------------------------------------------------------------
    def receipt(self) -> dict[str, Any]:
        batches = self.journal.batches
        by_reason: dict[str, list[int]] = {}
        for problem in sorted(set(self.refused)):
            by_reason.setdefault(f"{problem.column}: {problem.reason}", []).append(problem.line)
        pending: dict[tuple[str, str, str], int] = {}
        for batch in batches:
            # A record counts in several indicators: per batch, the most any indicator holds.
            in_batch: dict[tuple[str, str, str], int] = {}
            for line in batch.get("receipt", []):
                if line.get("published_from"):
                    key = (line["published_from"], line["municipality"], line["period"])
                    in_batch[key] = max(in_batch.get(key, 0), int(line.get("records", 0)))
            for key, count in in_batch.items():
                pending[key] = pending.get(key, 0) + count
        refused_lines = {p.line for p in self.refused}
        return {
            "export": self.export.path.name,
            "server": self.client.server,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "rows": self.checked.total,
            "accepted": sum(int(b["accepted"]) for b in batches),
            "replaced": sum(int(b["replaced"]) for b in batches),
            "refused_rows": len(refused_lines),
            "refused": [p.as_dict() for p in sorted(set(self.refused))],
            "refused_by_reason": {reason: lines for reason, lines in sorted(by_reason.items())},
            "this_run": {**self.counts, "batches": len(self.run_batches)},
            "no_longer_in_export": getattr(self, "no_longer_in_export", 0),
            "pending": [{"published_from": k[0], "municipality": k[1], "period": k[2], "records": n}
                        for k, n in sorted(pending.items())],
            "batches": [{k: b[k] for k in ("batch_id", "accepted", "replaced", "records", "lines")} for b in batches],
        }

    def _progress(self) -> Progress:
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                        console=self.console, transient=False)


def _consent_index(error: dict[str, Any]) -> tuple[int | None, str]:
    field_name = str(error.get("field", ""))
    if isinstance(error.get("index"), int):
        return error["index"], field_name
    match = _CONSENT_FIELD.match(field_name)
    return (int(match.group(1)), match.group(2)) if match else (None, field_name)


def _record_index(error: dict[str, Any]) -> tuple[int | None, str]:
    index = error.get("index")
    return (index if isinstance(index, int) else None), str(error.get("field", ""))


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]
    return response.reason_phrase or "no detail"


def _print_receipt(console: Console, export: Export, receipt: dict[str, Any]) -> None:
    out = Console()  # the receipt goes to stdout; problems and progress went to stderr
    run = receipt["this_run"]
    out.print(f"{receipt['export']}: {receipt['rows']} rows", markup=False)
    out.print(f"  accepted by the TTP: {receipt['accepted']} (of which replaced an earlier version: "
              f"{receipt['replaced']})", markup=False)
    out.print(f"  this run: {run['records_sent']} records sent in {run['batches']} batches, "
              f"{run['records_already_acknowledged']} acknowledged before; consents registered "
              f"{run['consents_registered']}, reused {run['consents_reused'] + run['consents_from_journal']}",
              markup=False)
    if receipt["refused_rows"]:
        out.print(f"  refused: {receipt['refused_rows']} rows", markup=False)
        for reason, lines in receipt["refused_by_reason"].items():
            shown = ", ".join(str(n) for n in lines[:20]) + (" ..." if len(lines) > 20 else "")
            out.print(f"    {reason} ({export.unit}s {shown})", markup=False)
    if receipt["no_longer_in_export"] > 0:
        out.print(f"  {receipt['no_longer_in_export']} records acknowledged earlier are no longer in the export; "
                  "the TTP keeps them until you retract them (DELETE /v1/records/{record_id})", markup=False)
    pending: dict[str, int] = {}
    for item in receipt["pending"]:
        pending[item["published_from"]] = pending.get(item["published_from"], 0) + item["records"]
    for when, records in sorted(pending.items()):
        out.print(f"  pending: {records} records appear in reports from the release of {when}", markup=False)


def _write_receipt(path: Path | None, receipt: dict[str, Any]) -> None:
    if path is None:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(receipt, handle, indent=2)
        handle.write("\n")
