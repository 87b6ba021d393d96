"""The local journal of ``ttp submit``: what the TTP acknowledged, so that a rerun sends nothing twice.

It lives next to the export (``<export>.ttp-journal.json``, mode 0600) and holds no BSN, no pseudonym
and no reference in the clear: consents and records are keyed by a SHA-256 of their reference and
record id, and a record's acknowledged version by a SHA-256 of what was sent. It is rewritten
atomically (a temporary file, fsync, rename) after every acknowledged batch, so a kill at any moment
leaves either the old or the new journal.

A rerun skips every record whose content was acknowledged before and every consent registered
before; a changed row (new content under the same record id) is sent again and replaces the earlier
version at the TTP; a row that is no longer in the export is reported (the TTP keeps it until it is
retracted).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1
SUFFIX = ".ttp-journal.json"


class JournalError(ValueError):
    """The journal cannot be used (another server, not ours, not private); the message says what to do."""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def record_digest(record: dict[str, Any]) -> str:
    """The digest of a record as sent (canonical JSON)."""
    return digest(json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str))


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def path_for(export: Path) -> Path:
    return export.with_name(export.name + SUFFIX)


@dataclass
class Journal:
    path: Path
    server: str
    export_sha256: str = ""
    consents: dict[str, str] = field(default_factory=dict)  # digest(consent_ref) -> consent_id
    records: dict[str, str] = field(default_factory=dict)  # digest(record_id) -> record_digest
    batches: list[dict[str, Any]] = field(default_factory=list)  # the TTP's answers (no personal data)

    @classmethod
    def open(cls, export: Path, server: str) -> tuple[Journal, str | None]:
        """The export's journal (new when there is none) and the previous export digest, if any."""
        path = path_for(export)
        if not path.exists():
            return cls(path=path, server=server), None
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            raise JournalError(f"{path}: not a regular file")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise JournalError(f"{path}: mode {stat.S_IMODE(info.st_mode):04o} gives others access; chmod 600 it")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise JournalError(f"{path}: not a journal of ttp submit (move it away to start afresh)") from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise JournalError(f"{path}: not a journal of this version of ttp submit (move it away to start afresh)")
        if data.get("server") != server:
            raise JournalError(f"{path}: this export was submitted to another server ({data.get('server')}); "
                               "move the journal away to submit it to this one")
        journal = cls(path=path, server=server, export_sha256=str(data.get("export_sha256", "")),
                      consents=dict(data.get("consents", {})), records=dict(data.get("records", {})),
                      batches=list(data.get("batches", [])))
        return journal, journal.export_sha256 or None

    def acknowledged(self, record: dict[str, Any]) -> bool:
        return self.records.get(digest(str(record["record_id"]))) == record_digest(record)

    def known_record(self, record_id: str) -> bool:
        return digest(record_id) in self.records

    def consent_id(self, consent_ref: str) -> str | None:
        return self.consents.get(digest(consent_ref))

    def add_consents(self, pairs: dict[str, str]) -> None:
        self.consents.update({digest(ref): consent_id for ref, consent_id in pairs.items()})

    def add_batch(self, records: list[dict[str, Any]], answer: dict[str, Any]) -> None:
        for record in records:
            self.records[digest(str(record["record_id"]))] = record_digest(record)
        self.batches.append(answer)

    def save(self) -> None:
        data = {"version": VERSION, "server": self.server, "export_sha256": self.export_sha256,
                "consents": self.consents, "records": self.records, "batches": self.batches}
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, self.path)
