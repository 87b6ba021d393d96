"""The DPIA annex and the GDPR art. 30 processing register, generated from what the service enforces.

Both documents are built from the loaded privacy configuration and from facts of the running
service (key versions, the access roles in :data:`app.auth.clients.ALLOWED_SCOPES`, the
disclosure-control floor, the checkpoint interval), so they follow the configuration and the
code: change a threshold, a retention period or a scope and the documents change with it.
They are deterministic (no generation time): the same configuration and keys give the same text,
so two annexes can be compared line by line.

Pure module apart from :meth:`ServiceFacts.from_runtime`: the annex is built as a small document
tree (:class:`Document`) and rendered to Markdown or to HTML. The HTML has no script and no
inline style, so it is shown as is under the strict Content-Security-Policy of the service.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.audit.checkpoint_store import CHECKPOINT_INTERVAL_SECONDS
from app.auth.clients import ALLOWED_SCOPES, OrgType
from app.privacy.configuration import LEGAL_BASES, MINIMUM_CELL_SIZE_FLOOR, LoadedConfiguration, Party
from pseudonymisation.stage1 import STAGE1_CONTEXT
from pseudonymisation.stage2 import STAGE2_CONTEXT

if TYPE_CHECKING:
    from app.runtime import Runtime

#: What each scope lets its holder do (a scope missing here is listed by its name).
SCOPE_PURPOSES = {
    "consents:write": "register and withdraw consents (stage-2 pseudonym only; never read back)",
    "records:write": "submit, correct and retract its own outcome records (never read back)",
    "reports:read": "read aggregated reports for its own organisation only, after disclosure control",
    "notes:write": "add the story behind the figures to its reports",
    "audit:read": "read, export and verify the audit log",
    "privacy:read": "read the privacy configuration, this annex and the processing register",
    "admin": "register and list machine clients",
}

ORG_TYPE_NAMES = {
    OrgType.provider: "Youth-care provider (AGB code)",
    OrgType.municipality: "Municipality (CBS code)",
    OrgType.privacy_officer: "Privacy officer (FG) of the TTP",
    OrgType.admin: "Administrator of the TTP",
}

DATA_SUBJECTS = (
    "youth receiving jeugdhulp, jeugdbescherming or jeugdreclassering whose consent was registered",
    "their parents or guardians, as the givers of consent (role only, no identity)",
)


# ---- facts of the running service ---------------------------------------------------------------
@dataclass(frozen=True)
class ServiceFacts:
    """What the documents say beyond the configuration file. Key ids only, never key material."""

    pseudonym_key_ids: tuple[str, ...]
    active_pseudonym_key: str
    kek_ids: tuple[str, ...]
    active_kek: str
    audit_key_id: str
    token_key_id: str
    municipality_names: Mapping[str, str] = field(default_factory=dict)
    region_sizes: Mapping[str, int] = field(default_factory=dict)
    checkpoint_interval_seconds: int = CHECKPOINT_INTERVAL_SECONDS
    allowed_scopes: Mapping[OrgType, Sequence[str]] = field(default_factory=lambda: ALLOWED_SCOPES)

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> ServiceFacts:
        keyring = runtime.keyring
        return cls(
            pseudonym_key_ids=tuple(keyring.key_ids("pseudonym")),
            active_pseudonym_key=keyring.active["pseudonym"],
            kek_ids=tuple(keyring.key_ids("kek")),
            active_kek=keyring.active["kek"],
            audit_key_id=keyring.active["audit-signing"],
            token_key_id=keyring.active["token-signing"],
            municipality_names={code: m.name for code, m in runtime.codelists.municipalities.items()},
            region_sizes={name: len(codes) for name, codes in runtime.codelists.regions.items()},
        )


# ---- a small document tree ----------------------------------------------------------------------
@dataclass(frozen=True)
class Code:
    text: str


Inline = tuple["str | Code", ...]


@dataclass(frozen=True)
class Paragraph:
    parts: Inline


@dataclass(frozen=True)
class Bullets:
    items: tuple[Inline, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Paragraph | Bullets | Table


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Document:
    title: str
    intro: tuple[Block, ...]
    sections: tuple[Section, ...]


def _p(*parts: str | Code) -> Paragraph:
    return Paragraph(tuple(parts))


def _bullets(*items: str | Inline) -> Bullets:
    return Bullets(tuple(item if isinstance(item, tuple) else (item,) for item in items))


def _party(role: str, party: Party) -> tuple[str, ...]:
    extra = "; ".join(x for x in (party.address, f"KvK {party.chamber_of_commerce}" if party.chamber_of_commerce
                                   else None) if x)
    return (role, party.name, party.contact, extra)


def _legal_bases(bases: Sequence[str]) -> str:
    return "; ".join(f"{b} ({LEGAL_BASES.get(b, 'see the GDPR')})" for b in bases)


def _months(n: int) -> str:
    return f"{n} month{'s' if n != 1 else ''}"


def _years(n: int) -> str:
    return f"{n} year{'s' if n != 1 else ''}"


def _interval(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"


def _roles(facts: ServiceFacts) -> Table:
    rows = []
    for org_type, scopes in facts.allowed_scopes.items():
        for scope in scopes:
            rows.append((ORG_TYPE_NAMES.get(org_type, str(org_type)), scope, SCOPE_PURPOSES.get(scope, scope)))
    return Table(("organisation", "scope", "what it allows"), tuple(rows))


def _security_measures(loaded: LoadedConfiguration, facts: ServiceFacts) -> list[str]:
    d = loaded.configuration.disclosure
    return [
        "two-stage keyed pseudonymisation (HMAC-SHA256): the BSN never leaves the provider",
        "records encrypted at rest with AES-256-GCM under a data key per batch, wrapped by a rotating key "
        "encryption key; a consent's dates, age, who gave it and its municipalities sealed the same way (beside "
        "a pseudonym a copy of the database shows only months for housekeeping: retention, linkage settling)",
        "aggregated reports only, with a minimum cell size of "
        f"{d.minimum_cell_size} (never below {MINIMUM_CELL_SIZE_FLOOR}) and secondary suppression",
        "OAuth 2 client credentials; signed access tokens bound to one organisation and role",
        "append-only audit log of every access (NEN 7513 fields), an RFC 9162 Merkle tree, and Ed25519-signed "
        f"checkpoints every {_interval(facts.checkpoint_interval_seconds)}",
        "TLS in transit; strict security headers; keys in files readable by the service only (mode 0600)",
    ]


def dpia_annex(loaded: LoadedConfiguration, facts: ServiceFacts) -> Document:
    """The DPIA annex: every DPIA-relevant choice the running service enforces."""
    config = loaded.configuration
    disclosure = config.disclosure
    names = facts.municipality_names
    thresholds = tuple(
        (code, names.get(code, "unknown"), str(value))
        for code, value in sorted(disclosure.municipality_thresholds.items())
    )
    rounding = (f"shown counts are rounded to a multiple of {disclosure.rounding_base}; every share, interval "
                "and response rate is computed from the shown (rounded) counts and mean marks carry one decimal, "
                "so no figure gives the exact counts back. Rounding is presentation: the suppression and the "
                "release check below assume the reader knows every published count exactly and do not rely on it"
                if disclosure.rounding_base else "shown counts are exact (no rounding)")
    publication = config.publication
    cadence = "every quarter" if publication.cadence == "quarterly" else "every month"
    revision_points = {"next_release": "at the first release after its first publication",
                       "year_end": "at the release that first publishes its year"}
    revisions = "; ".join(revision_points[r] for r in publication.revisions) or "never (a published quarter is final)"
    sections = (
        Section("Parties", (
            Table(("role", "name", "contact", "details"), (
                _party("Controller", config.controller),
                _party("Processor", config.processor),
                _party("Data protection officer", config.data_protection_officer),
            )),
        )),
        Section("Purposes and legal bases", (
            Table(("purpose", "description", "legal bases"),
                  tuple((p.id, p.description, _legal_bases(p.legal_bases)) for p in config.purposes)),
            _p("Outcome data are health data: they flow only with the explicit consent of the youth or those "
               "who may consent for them (Jeugdwet 7.3.4, 7.3.5, 7.3.15). Withdrawal stops all further use."),
        )),
        Section("Data subjects", (_bullets(*DATA_SUBJECTS),)),
        Section("Data categories", (
            _p("Processed:"),
            _bullets(*config.data_categories.processed),
            _p("Never accepted (data minimisation; the record schemas refuse unknown fields):"),
            _bullets(*config.data_categories.never_accepted),
        )),
        Section("Pseudonymisation", (
            _p("Two stages, each a keyed hash (HMAC-SHA256) labelled with its key version, so that keys can be "
               "replaced:"),
            _bullets(
                ("Stage 1, at the provider: ", Code(f"p1.<key id>.base64url(HMAC-SHA256(provider key, "
                                                    f"\"{STAGE1_CONTEXT.decode()}\" + BSN))"),
                 ". The provider key is shared once, out of band, by the providers of a scheme; the BSN never "
                 "leaves the provider."),
                ("Stage 2, at the TTP: ", Code(f"p2.<key id>.base64url(HMAC-SHA256(TTP key, "
                                               f"\"{STAGE2_CONTEXT.decode()}\" + stage-1 value))"),
                 ". Only the TTP holds its key; neither a provider nor a copy of the database can map a stored "
                 "pseudonym back to a BSN."),
                ("Stage-2 key in use: ", Code(facts.active_pseudonym_key), "; versions held: ",
                 ", ".join(facts.pseudonym_key_ids) or "none", "."),
                "Input that looks like a BSN is refused with a reason that never repeats the value.",
            ),
        )),
        Section("Encryption", (
            _bullets(
                "Record payloads are encrypted with AES-256-GCM under a fresh data key per batch; the record id, "
                "provider and format version are bound as associated data, so a ciphertext copied to another "
                "row does not decrypt.",
                "Each data key is stored only wrapped (AES-256-GCM) by a key encryption key (KEK) whose id is "
                "bound to the wrapping.",
                ("KEK in use: ", Code(facts.active_kek), f"; KEKs held: {len(facts.kek_ids)}. ",
                 Code("ttp keys rotate"), " makes a new KEK; ", Code("ttp keys rewrap"),
                 " re-wraps the stored data keys under it, so old KEKs can be retired without losing data."),
                ("Access tokens are signed with ES256 (key ", Code(facts.token_key_id), "); audit checkpoints "
                 "with Ed25519 (key ", Code(facts.audit_key_id), ")."),
                "Keys live in the key directory, in files readable by the service only (mode 0600).",
            ),
        )),
        Section("Thresholds and suppression", (
            _bullets(
                f"Minimum cell size: {disclosure.minimum_cell_size} (the code refuses any configuration below "
                f"{MINIMUM_CELL_SIZE_FLOOR}). A cell with fewer than the threshold is suppressed; percentages are "
                "given only over denominators at or above the threshold.",
                f"Rounding base: {disclosure.rounding_base}: {rounding}.",
                f"Small counts: a numerator or its complement below {disclosure.small_count} is shown as a band, "
                "never as a number.",
                "Secondary suppression: after the primary suppression, further cells are withheld so that no "
                "suppressed cell can be recomputed from the published cells and totals, across every report "
                "one party can obtain (margins, other breakdowns, other periods, the region, other indicators "
                "with the same denominators).",
                "Release check: before any report is given out, linear programmes over everything that party "
                "can obtain for the year confirm that every suppressed count still lies in an interval at "
                "least as wide as its threshold, and that a reader who knows every denominator (a "
                "municipality) cannot pin a suppressed or banded numerator to a single value; when a check "
                "fails, more cells are withheld, never fewer.",
            ),
            _p("Per-municipality thresholds (a municipality may only raise its own):"),
            Table(("municipality", "name", "threshold"), thresholds) if thresholds
            else _p("none: every municipality has the minimum cell size."),
            _p("Regions whose municipalities agreed to regional reports: ",
               ", ".join(f"{r} ({facts.region_sizes.get(r, 0)} municipalities)"
                         for r in config.regions.reporting_agreed) or "none", "."),
        )),
        Section("Publication and protection over time", (
            _bullets(
                f"Reports are served only from releases, made {cadence} by a scheduled job (exactly once across "
                "the service's processes), never computed on a request. A period is first published "
                f"{publication.settle_days} days after its end, so late records and pending linkage settle first.",
                f"A published quarter may change again (late records, corrections, retractions, consent "
                f"withdrawals) only: {revisions}. At any other release it repeats what was published.",
                "Every release is stored immutably with every published cell, signed with the audit key, and "
                "its content hash is recorded in the audit log; the publication register (GET /v1/releases) "
                "lists what was published, for which family and periods, when and under which configuration. "
                "Every report read is audited with the release it came from.",
                "Guarantee over time: a release takes a change since the previous release only where every cell "
                "that party saw before and sees now moves by nobody or by at least its threshold of people "
                "(counted from below). A smaller change waits for a later release, whole base cells at a time so "
                "that every total still adds up; it is never lost. A cell withheld before whose counts did not "
                "change stays withheld. So subtracting two releases never isolates fewer people than the "
                "threshold, and in particular never one child's outcome; the release itself then passes the "
                "same suppression and release check as any snapshot.",
                "Known limit: the outcome count of a released change of at least the threshold of people is not "
                "banded as a cell's small numerator is (if all of them had the outcome, the difference says so "
                "for that group).",
            ),
        )),
        Section("Linkage and indicators", (
            _bullets(
                f"A new start counts within {_months(config.linkage.new_start_window_months)} after a trajectory "
                "ends (indicator 3.2, \"geen nieuwe start\"), linked by stage-2 pseudonym only.",
                f"A satisfaction mark of {config.indicators.satisfaction_cutoff} or more counts as satisfied.",
            ),
        )),
        Section("Retention", (
            _bullets(
                f"Outcome records: {_months(config.retention.records_months)} after the trajectory's end.",
                f"Audit entries: {_years(config.retention.audit_years)}.",
            ),
        )),
        Section("Recipients", (
            Table(("recipient", "receives"), tuple((r.name, r.receives) for r in config.recipients)),
            _p("No one receives a record, a pseudonym or a consent's personal fields back."),
        )),
        Section("Access roles", (
            _p("Every access token is bound to one organisation and grants only these scopes:"),
            _roles(facts),
        )),
        Section("Access limits", (
            _bullets(
                f"A client id that fails to authenticate {config.limits.failed_authentications} times in a row is "
                f"locked for {config.limits.lockout_minutes} minutes, across every process (kept in the database); "
                "an unknown client id locks the same way, so the answers reveal no client's existence. "
                "Each lockout is an audit entry.",
                f"Per client and API process: {config.limits.token_requests_per_minute} token requests and "
                f"{config.limits.write_requests_per_minute} writes a minute, {config.limits.concurrent_reports} "
                "report requests at once; beyond that the answer is 429 with Retry-After.",
                "A disabled client gets no token and its tokens stop working at once; a rotated secret keeps "
                f"working for {config.limits.secret_rotation_grace_hours} hours.",
            ),
        )),
        Section("Audit", (
            _bullets(
                "Every access to data, allowed or denied, writes an audit entry: who, organisation, role, action, "
                "purpose, object, time, result (after NEN 7513).",
                "The log is append-only in the database and hashed into an RFC 9162 Merkle tree; signed "
                f"checkpoints are made every {_interval(facts.checkpoint_interval_seconds)} and on request.",
                ("Changing, removing or reordering an entry is detected by ", Code("ttp audit verify"),
                 "; the privacy officer can keep a checkpoint and later check that the log only grew."),
                "The SHA-256 of the privacy configuration is recorded at every start, with whether it changed.",
            ),
        )),
        Section("Configuration", (
            Table(("version", "SHA-256"), ((config.version, loaded.sha256),)),
        )),
    )
    intro = (
        _p("Generated by the running service from the privacy configuration it enforces and from its own code. "
           "It changes when either changes."),
        _p("Configuration version ", Code(config.version), ", SHA-256 ", Code(loaded.sha256), "."),
    )
    return Document("DPIA annex: Outcome TTP", intro, sections)


def processing_register(loaded: LoadedConfiguration, facts: ServiceFacts) -> dict[str, Any]:
    """The record of processing activities (GDPR art. 30) as a JSON-ready dict."""
    config = loaded.configuration

    def party(p: Party) -> dict[str, Any]:
        return {"name": p.name, "contact": p.contact, "address": p.address,
                "chamber_of_commerce": p.chamber_of_commerce}

    return {
        "title": "Record of processing activities (GDPR art. 30): Outcome TTP",
        "configuration": {"version": config.version, "sha256": loaded.sha256},
        "controller": party(config.controller),
        "processor": party(config.processor),
        "data_protection_officer": party(config.data_protection_officer),
        "processing": "Outcome monitoring of Dutch youth care through a Trusted Third Party: consent-backed, "
                      "pseudonymised outcome records in, aggregated reports out",
        "purposes": [
            {"id": p.id, "description": p.description,
             "legal_bases": [{"article": b, "meaning": LEGAL_BASES.get(b, "")} for b in p.legal_bases]}
            for p in config.purposes
        ],
        "data_subjects": list(DATA_SUBJECTS),
        "personal_data": list(config.data_categories.processed),
        "special_categories": ["health data (outcomes of youth care)"],
        "never_accepted": list(config.data_categories.never_accepted),
        "recipients": [{"name": r.name, "receives": r.receives} for r in config.recipients],
        "third_country_transfers": "none: the service sends data only to the recipients listed",
        "retention": {
            "records_months": config.retention.records_months,
            "audit_years": config.retention.audit_years,
            "records": f"{_months(config.retention.records_months)} after the trajectory's end",
            "audit_log": _years(config.retention.audit_years),
        },
        "security_measures": _security_measures(loaded, facts),
        "access_roles": [
            {"organisation": str(org_type), "scopes": list(scopes)} for org_type, scopes in facts.allowed_scopes.items()
        ],
    }


def register_document(register: dict[str, Any]) -> Document:
    """The processing register as a document (for the HTML form)."""

    def party_row(role: str, p: dict[str, Any]) -> tuple[str, ...]:
        details = "; ".join(x for x in (p.get("address"), p.get("chamber_of_commerce")) if x)
        return (role, p["name"], p["contact"], details)

    purposes = tuple(
        (p["id"], p["description"], "; ".join(f"{b['article']} ({b['meaning']})" for b in p["legal_bases"]))
        for p in register["purposes"]
    )
    retention = register["retention"]
    sections = (
        Section("Controller, processor and data protection officer", (
            Table(("role", "name", "contact", "details"), (
                party_row("Controller", register["controller"]),
                party_row("Processor", register["processor"]),
                party_row("Data protection officer", register["data_protection_officer"]),
            )),
        )),
        Section("Processing", (_p(register["processing"]),)),
        Section("Purposes and legal bases", (Table(("purpose", "description", "legal bases"), purposes),)),
        Section("Data subjects", (_bullets(*register["data_subjects"]),)),
        Section("Personal data", (
            _bullets(*register["personal_data"]),
            _p("Special categories: ", ", ".join(register["special_categories"]), "."),
            _p("Never accepted: ", ", ".join(register["never_accepted"]), "."),
        )),
        Section("Recipients", (Table(("recipient", "receives"),
                                     tuple((r["name"], r["receives"]) for r in register["recipients"])),)),
        Section("Transfers to third countries", (_p(register["third_country_transfers"]),)),
        Section("Retention", (_bullets(f"Records: {retention['records']}.", f"Audit log: {retention['audit_log']}."),)),
        Section("Security measures (art. 32)", (_bullets(*register["security_measures"]),)),
        Section("Access roles", (Table(("organisation", "scopes"), tuple(
            (r["organisation"], ", ".join(r["scopes"])) for r in register["access_roles"])),)),
    )
    configuration = register["configuration"]
    intro = (_p("Configuration version ", Code(configuration["version"]), ", SHA-256 ",
                Code(configuration["sha256"]), "."),)
    return Document(register["title"], intro, sections)


# ---- rendering ----------------------------------------------------------------------------------
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#"})


def _md_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).translate(_MD_SPECIAL)


def _md_inline(parts: Inline) -> str:
    out = []
    for part in parts:
        if isinstance(part, Code):
            fence = "``" if "`" in part.text else "`"
            out.append(f"{fence}{part.text}{fence}")
        else:
            out.append(_md_text(part))
    return "".join(out)


def _md_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return _md_inline(block.parts)
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md_inline(item)}" for item in block.items)
    lines = ["| " + " | ".join(_md_text(h) for h in block.headers) + " |",
             "|" + "|".join(" --- " for _ in block.headers) + "|"]
    lines += ["| " + " | ".join(_md_text(cell.strip()) or " " for cell in row) + " |" for row in block.rows]
    return "\n".join(lines)


def render_markdown(document: Document) -> str:
    parts = [f"# {_md_text(document.title)}", *(_md_block(b) for b in document.intro)]
    for section in document.sections:
        parts.append(f"## {_md_text(section.title)}")
        parts.extend(_md_block(b) for b in section.blocks)
    return "\n\n".join(parts) + "\n"


def _html_inline(parts: Inline) -> str:
    return "".join(f"<code>{html.escape(p.text)}</code>" if isinstance(p, Code) else html.escape(p) for p in parts)


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_html_inline(block.parts)}</p>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{_html_inline(item)}</li>" for item in block.items) + "\n</ul>"
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in block.headers)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def render_html(document: Document) -> str:
    """A complete HTML page: no script, no inline style (works under the service's strict CSP)."""
    title = html.escape(document.title)
    body = [f"<h1>{title}</h1>", *(_html_block(b) for b in document.intro)]
    for section in document.sections:
        body.append(f"<section>\n<h2>{html.escape(section.title)}</h2>")
        body.extend(_html_block(b) for b in section.blocks)
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{title}</title>\n'
        "</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )
