"""The privacy officer's pages (``/privacy/...``): the audit log, its verification and checkpoints,
the privacy configuration, the DPIA annex and the art. 30 register, the publication register and
the retention runs.

Thin over the services the API uses: :mod:`app.audit.reading` (``GET /v1/audit/entries``),
:func:`app.audit.verification.verify_log` and :func:`app.reports.releases.verify_releases`
(``ttp audit verify``), :mod:`app.audit.checkpoint_store` (``GET /v1/audit/checkpoint``),
:mod:`app.privacy.documents` (``/v1/privacy/dpia``, ``/v1/privacy/register``) and
:func:`app.reports.releases.register` (``GET /v1/releases``). What is here is presentation only:
Dutch words, Dutch dates and numbers, and an explanation of each verification finding.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app import dependencies
from app.audit import checkpoint_format as signing
from app.audit import checkpoint_store as checkpoints
from app.audit import reading
from app.audit.commands import parse_saved_checkpoint
from app.audit.verification import Finding, Verification, verify_log
from app.auth.clients import OrgType
from app.auth.principal import audit_context, audited
from app.crypto.keyring import KeyringError
from app.dependencies import RuntimeDep
from app.models import AuditCheckpoint
from app.privacy import documents
from app.privacy.configuration import MINIMUM_CELL_SIZE_FLOOR
from app.reports import releases
from app.runtime import Runtime
from app.web.deps import CsrfPrivacyOfficerUser, PrivacyOfficerUser
from app.web.templating import render

router = APIRouter(include_in_schema=False)

#: Entries per page of the audit log.
PAGE_SIZE = 50
#: Most entries one export holds (a larger selection is refused with the advice to narrow it).
EXPORT_LIMIT = 50_000
#: Releases per page of the publication register.
RELEASES_PAGE_SIZE = 100
#: Largest saved checkpoint file the verification page accepts (a checkpoint is about 1 kB).
MAX_CHECKPOINT_BYTES = 16_384

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december")

ORG_TYPES = {OrgType.provider.value: "Aanbieder", OrgType.municipality.value: "Gemeente",
             OrgType.privacy_officer.value: "Privacy officer", OrgType.admin.value: "Beheer"}
RESULTS = {"success": "Gelukt", "denied": "Geweigerd", "not_found": "Niet gevonden",
           "rejected": "Afgewezen (ongeldige invoer)", "error": "Fout in de dienst"}
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]{1,100}")

#: The actions whose entry records a verification of the whole log, with its outcome.
VERIFY_ACTIONS = ("audit.verify", "page.privacy.verification.run")


# ---- Dutch numbers and dates ----------------------------------------------------------------------
def number(value: int | None) -> str:
    """12345 -> '12.345'."""
    return "" if value is None else f"{value:,}".replace(",", ".")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(value: datetime | str | None, *, seconds: bool = False) -> str:
    """A moment in Dutch, in Dutch time: '2 december 2026 10:00'."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    local = _aware(value).astimezone(AMSTERDAM)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} {clock}"


def local_date(value: datetime | str) -> str:
    """The Dutch calendar day of a moment, as YYYY-MM-DD (what the audit log filter takes)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return _aware(value).astimezone(AMSTERDAM).date().isoformat()


def _context(**extra: Any) -> dict[str, Any]:
    return {"number": number, "when": when, "local_date": local_date, **extra}


def _attachment(body: str | bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ---- the start page -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LastVerification:
    at: datetime
    ok: bool | None
    entries: int | None
    how: str


def last_verification(session: Any) -> LastVerification | None:
    """The newest verification of the whole log the log itself records (this page or the API)."""
    entry = reading.latest_of(session, VERIFY_ACTIONS)
    if entry is None:
        return None
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    ok = detail.get("ok")
    count = detail.get("count")
    how = "op deze pagina's" if entry.action.startswith("page.") else "via de API"
    return LastVerification(_aware(entry.at), ok if isinstance(ok, bool) else None,
                            count if isinstance(count, int) else None, how)


@router.get("/privacy", name="page.privacy.start")
@audited("page.privacy.start")
def start(request: Request, user: PrivacyOfficerUser, session: dependencies.ReadSession) -> Response:
    latest = checkpoints.latest(session)
    return render(request, "privacy/start.html", **_context(
        length=reading.length(session), latest=latest, verification=last_verification(session)))


# ---- the audit log --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogQuery:
    """The audit log page's filter as the person typed it, and as the service's filter."""

    van: str
    tot: str
    actie: str
    soort: str
    organisatie: str
    resultaat: str
    where: reading.EntryFilter
    errors: tuple[str, ...]
    invalid: frozenset[str] = frozenset()  # the fields the errors are about (aria-invalid)

    def query_string(self, **extra: str | int) -> str:
        from urllib.parse import urlencode

        fields = {"van": self.van, "tot": self.tot, "actie": self.actie, "soort": self.soort,
                  "organisatie": self.organisatie, "resultaat": self.resultaat, **extra}
        return urlencode({k: v for k, v in fields.items() if v not in ("", None)})


def _day_start(text: str, label: str, errors: list[str], *, next_day: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label}: vul een datum in als 2026-12-01 (jaar-maand-dag).")
        return None
    if not 1900 <= value.year <= 9998:
        errors.append(f"{label}: kies een jaar tussen 1900 en 9998.")
        return None
    if next_day:
        if value == date.max:
            return None
        value += timedelta(days=1)
    return datetime.combine(value, time(0), tzinfo=AMSTERDAM).astimezone(UTC)


def log_query(van: str, tot: str, actie: str, soort: str, organisatie: str, resultaat: str) -> LogQuery:
    van, tot, actie, soort, organisatie, resultaat = (
        v.strip() for v in (van, tot, actie, soort, organisatie, resultaat))
    errors: list[str] = []
    invalid: set[str] = set()

    def check(field: str, before: int) -> None:
        if len(errors) > before:
            invalid.add(field)

    start = _day_start(van, "Vanaf", errors)
    check("van", 0)
    count = len(errors)
    end = _day_start(tot, "Tot en met", errors, next_day=True)
    if start is not None and end is not None and end <= start:
        errors.append("Tot en met: die datum ligt vóór de datum bij 'Vanaf'.")
    check("tot", count)
    for field, value, ok, message in (
        ("actie", actie, _IDENTIFIER.fullmatch(actie), "Actie: kies een actie uit de lijst."),
        ("soort", soort, soort in ORG_TYPES, "Soort organisatie: kies een soort uit de lijst."),
        ("organisatie", organisatie, _IDENTIFIER.fullmatch(organisatie),
         "Organisatie: een code bestaat uit letters, cijfers en . _ : - (bijvoorbeeld GM0344)."),
        ("resultaat", resultaat, resultaat in RESULTS, "Resultaat: kies een resultaat uit de lijst."),
    ):
        if value and not ok:
            errors.append(message)
            invalid.add(field)
    where = reading.EntryFilter(start=start, end=end, action=actie or None, org_type=soort or None,
                                org_id=organisatie or None, result=resultaat or None)
    return LogQuery(van, tot, actie, soort, organisatie, resultaat, where, tuple(errors), frozenset(invalid))


def detail_text(detail: Any) -> list[tuple[str, str]]:
    """An entry's detail as (name, value) pairs to show (it holds counts, hashes and key ids only)."""
    if not isinstance(detail, dict):
        return []
    return [(str(k), json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v))
            for k, v in sorted(detail.items())]


@router.get("/privacy/auditlog", name="page.privacy.auditlog")
@audited("page.privacy.auditlog")
def auditlog(
    request: Request,
    user: PrivacyOfficerUser,
    session: dependencies.ReadSession,
    van: Annotated[str, Query(max_length=20)] = "",
    tot: Annotated[str, Query(max_length=20)] = "",
    actie: Annotated[str, Query(max_length=100)] = "",
    soort: Annotated[str, Query(max_length=20)] = "",
    organisatie: Annotated[str, Query(max_length=100)] = "",
    resultaat: Annotated[str, Query(max_length=20)] = "",
    pagina: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
    formaat: Annotated[str, Query(pattern=r"^(html|csv|jsonl)$")] = "html",
) -> Response:
    query = log_query(van, tot, actie, soort, organisatie, resultaat)
    context = audit_context(request)
    errors = list(query.errors)
    total = 0 if errors else reading.count(session, query.where)
    if formaat != "html" and not errors:
        if total > EXPORT_LIMIT:
            errors.append(f"De selectie telt {number(total)} regels; een export bevat er hoogstens "
                          f"{number(EXPORT_LIMIT)}. Kies een kortere periode of een actie.")
        else:
            rows = reading.entries(session, query.where, limit=EXPORT_LIMIT)
            context.detail = {"count": len(rows), "format": formaat}
            name = "auditlog-" + "-".join(x for x in (query.van, query.tot) if x) if (query.van or query.tot) \
                else "auditlog"
            if formaat == "csv":
                return _attachment(reading.csv_text(rows), "text/csv; charset=utf-8", f"{name}.csv")
            return _attachment(reading.ndjson_text(rows), "application/x-ndjson", f"{name}.jsonl")
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(pagina, pages)
    rows = [] if errors else reading.entries(session, query.where, limit=PAGE_SIZE, newest_first=True,
                                             offset=(page - 1) * PAGE_SIZE)
    context.detail = {"count": len(rows), "page": page}
    return render(request, "privacy/auditlog.html", status_code=400 if errors else 200, **_context(
        query=query, errors=errors, rows=rows, total=total, page=page, pages=pages, page_size=PAGE_SIZE,
        actions=reading.actions(session), org_types=ORG_TYPES, results=RESULTS, detail_text=detail_text,
        export_limit=EXPORT_LIMIT))


# ---- verification ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Explained:
    """A verification finding in plain Dutch: what is wrong, and what it means."""

    what: str
    meaning: str
    technical: str


def _checkpoint_name(finding: Finding) -> str:
    moment = when(finding.checkpoint_time) if finding.checkpoint_time else ""
    if finding.checkpoint == "saved":
        return f"uw bewaarde controlepunt van {moment}" if moment else "uw bewaarde controlepunt"
    return f"het ondertekende controlepunt #{finding.checkpoint_id}" + (f" van {moment}" if moment else "")


_REWRITTEN = ("Iemand met schrijftoegang tot de database heeft het log aangepast. Wie dat doet, kan de hashes "
              "van de regels opnieuw berekenen, maar niet de handtekening van de controlepunten: daarom valt "
              "het toch op.")


def explain(finding: Finding) -> Explained:
    """What a verification finding means, for a person (the technical reason stays alongside)."""
    seq, last = finding.seq, finding.last_seq
    cp = _checkpoint_name(finding)
    kind = finding.kind
    if kind == "changed":
        what = f"Regel {number(seq)} is veranderd nadat hij geschreven werd."
        meaning = ("De inhoud van die regel past niet meer bij de hash die bij het schrijven werd vastgelegd. "
                   "Iemand met schrijftoegang tot de database heeft de regel aangepast; wat er nu staat is niet "
                   "wat er gebeurde.")
    elif kind == "missing":
        what = (f"Regel {number(seq)} ontbreekt." if finding.missing_to in (None, seq)
                else f"De regels {number(seq)} tot en met {number(finding.missing_to)} ontbreken.")
        meaning = ("De regels zijn doorlopend genummerd; een gat in de nummering betekent dat er regels uit het "
                   "log zijn verwijderd.")
    elif kind == "moved":
        what = (f"Regel {number(seq)} staat niet op zijn plaats: daar staat nu wat oorspronkelijk regel "
                f"{number(finding.moved_from)} was.")
        meaning = "De volgorde van het log is veranderd: regels zijn verwisseld of verplaatst."
    elif kind == "out_of_order":
        what = f"De nummering van het log is verstoord bij regel {number(seq)}."
        meaning = "Regels zijn verplaatst of dubbel genummerd."
    elif kind == "cut":
        what = (f"Het log is ingekort: het heeft nog {number((seq or 1) - 1)} regels, maar {cp} "
                f"besloeg er {number(last)}.")
        meaning = (f"De regels {number(seq)} tot en met {number(last)} zijn verwijderd. Het ondertekende "
                   "controlepunt bewijst dat ze bestonden.")
    elif kind == "mismatch":
        which = f"Regel {number(seq)}" if seq == last else f"Een van de regels {number(seq)} tot en met {number(last)}"
        what = f"{which} is veranderd, verwijderd of verplaatst: het log klopt niet meer met {cp}."
        meaning = _REWRITTEN
    elif kind == "checkpoint_signature":
        if finding.checkpoint == "saved":
            what = "De handtekening van uw bewaarde controlepunt is ongeldig."
            meaning = "Het bestand is na het downloaden gewijzigd, of het is niet door deze dienst gemaakt."
        else:
            what = f"De handtekening van {cp} is ongeldig."
            meaning = ("De tabel met controlepunten is aangepast. Zonder geldige controlepunten kan een "
                       "herschreven log onopgemerkt blijven: vergelijk met een controlepunt dat u zelf bewaarde.")
    elif kind == "checkpoint_unknown_key":
        what = f"{cp[0].upper()}{cp[1:]} is ondertekend met een sleutel die de dienst niet kent."
        meaning = ("De sleutelmap van de dienst mist een oude auditsleutel, of het controlepunt is niet door deze "
                   "dienst gemaakt. Vraag de beheerder welke auditsleutels er zijn geweest.")
    elif kind == "checkpoint_wrong_key":
        what = "Uw bewaarde controlepunt bevat een andere publieke sleutel dan de auditsleutel van de dienst."
        meaning = "Het bestand is niet door deze dienst gemaakt, of de dienst gebruikt een andere sleutel dan toen."
    elif kind == "checkpoint_malformed":
        what = f"Controlepunt #{finding.checkpoint_id} is onleesbaar."
        meaning = "De tabel met controlepunten is aangepast."
    else:
        what = "Het auditlog klopt niet."
        meaning = "Zie de technische melding hieronder."
    return Explained(what, meaning, finding.reason)


@dataclass(frozen=True)
class ReleaseProblem:
    release_id: str
    text: str


def _verify(session: Any, runtime: Runtime, saved: Any = None, saved_key: Any = None) -> dict[str, Any]:
    """Run ``ttp audit verify`` (log, checkpoints, releases) and say what it found, for the page."""
    outcome: Verification = verify_log(session, runtime.keyring, saved, saved_key)
    checks = releases.release_checks(session, runtime.keyring)
    release_problems = [
        ReleaseProblem(release_id, "de inhoud of de handtekening klopt niet meer: de publicatie is na het "
                                   "publiceren gewijzigd" if check == releases.RELEASE_CHANGED else
                       "de hash van de inhoud is niet die welke het auditlog bij het publiceren vastlegde")
        for release_id, check in checks.items() if check != releases.RELEASE_OK]
    latest = checkpoints.latest(session)
    return {
        "outcome": outcome,
        "explained": explain(outcome.first_problem) if outcome.first_problem else None,
        "releases_count": len(checks),
        "release_problems": release_problems,
        "latest": latest,
        "ok": outcome.ok and not release_problems,
    }


@router.get("/privacy/verificatie", name="page.privacy.verification")
@audited("page.privacy.verification")
def verification(request: Request, user: PrivacyOfficerUser, session: dependencies.ReadSession) -> Response:
    return render(request, "privacy/verificatie.html", **_context(
        result=None, upload_error=None, verification=last_verification(session), length=reading.length(session)))


@router.post("/privacy/verificatie", name="page.privacy.verification.run")
@audited("page.privacy.verification.run")
async def run_verification(request: Request, user: CsrfPrivacyOfficerUser, session: dependencies.ReadSession,
                           runtime: RuntimeDep) -> Response:
    form = await request.form()
    upload = form.get("controlepunt")
    saved = saved_key = None
    upload_error = None
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(MAX_CHECKPOINT_BYTES + 1)
        try:
            if len(raw) > MAX_CHECKPOINT_BYTES:
                raise ValueError("the file is larger than a checkpoint")
            saved, saved_key = parse_saved_checkpoint(raw.decode("utf-8"), "the file")
        except (ValueError, UnicodeDecodeError) as exc:
            upload_error = str(exc)
    if upload_error is not None:
        audit_context(request).detail = {"saved_checkpoint": "unreadable"}
        last, length = await run_in_threadpool(lambda: (last_verification(session), reading.length(session)))
        return render(request, "privacy/verificatie.html", status_code=400, **_context(
            result=None, upload_error=upload_error, verification=last, length=length))
    result = await run_in_threadpool(_verify, session, runtime, saved, saved_key)  # reads the whole log
    outcome = result["outcome"]
    audit_context(request).detail = {"count": outcome.entries, "ok": result["ok"],
                                     "checkpoints_checked": outcome.checkpoints_checked,
                                     "saved_checkpoint": saved is not None}
    return render(request, "privacy/verificatie.html", **_context(
        result=result, upload_error=None, verification=None, length=outcome.entries))


# ---- the checkpoint -------------------------------------------------------------------------------
def fingerprint(raw_public_key: bytes) -> str:
    """SHA-256 of the raw 32-byte public key, hex, in groups of four."""
    digest = hashlib.sha256(raw_public_key).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))


def _checkpoint_view(record: AuditCheckpoint, runtime: Runtime) -> dict[str, Any]:
    cp = record.as_checkpoint()
    try:
        key = checkpoints.public_key(runtime.keyring, cp.key_id)
    except (KeyringError, ValueError, TypeError):
        return {"record": record, "checkpoint": cp, "document": signing.to_json(cp), "known_key": False,
                "valid": False, "fingerprint": None}
    document = checkpoints.checkpoint_document(cp, key)
    return {"record": record, "checkpoint": cp, "document": document, "known_key": True,
            "valid": signing.verify_checkpoint(cp, key),
            "fingerprint": fingerprint(key.public_bytes(Encoding.Raw, PublicFormat.Raw))}


@router.get("/privacy/checkpoint", name="page.privacy.checkpoint")
@audited("page.privacy.checkpoint")
def checkpoint(
    request: Request,
    user: PrivacyOfficerUser,
    session: dependencies.ReadSession,
    runtime: RuntimeDep,
    formaat: Annotated[str, Query(pattern=r"^(html|json)$")] = "html",
) -> Response:
    record = checkpoints.latest(session)
    view = _checkpoint_view(record, runtime) if record is not None else None
    context = audit_context(request)
    if view is not None:
        context.detail = {"size": view["checkpoint"].size, "audit_key_id": view["checkpoint"].key_id,
                          "format": formaat}
    if formaat == "json" and view is not None:
        body = json.dumps(view["document"], indent=2) + "\n"
        return _attachment(body, "application/json", f"controlepunt-{view['checkpoint'].size}.json")
    return render(request, "privacy/checkpoint.html", status_code=200 if view or formaat == "html" else 404,
                  **_context(view=view, length=reading.length(session)))


@router.post("/privacy/checkpoint", name="page.privacy.checkpoint.make")
@audited("page.privacy.checkpoint.make")
def make_checkpoint(request: Request, user: CsrfPrivacyOfficerUser, session: dependencies.DbSession,
                    runtime: RuntimeDep) -> Response:
    made = checkpoints.make_checkpoint(session, runtime.keyring)
    audit_context(request).detail = {"size": made.record.size, "created": made.created,
                                     "audit_key_id": made.record.key_id}
    session.commit()
    return RedirectResponse("/privacy/checkpoint", status_code=303)


# ---- the privacy configuration --------------------------------------------------------------------
CADENCES = {"quarterly": "elk kwartaal", "monthly": "elke maand"}
REVISION_POINTS = {"next_release": "bij de eerstvolgende publicatie na de eerste",
                   "year_end": "bij de publicatie die het hele jaar voor het eerst publiceert"}


@router.get("/privacy/configuratie", name="page.privacy.configuration")
@audited("page.privacy.configuration")
def configuration(
    request: Request,
    user: PrivacyOfficerUser,
    session: dependencies.ReadSession,
    runtime: RuntimeDep,
    formaat: Annotated[str, Query(pattern=r"^(html|toml)$")] = "html",
) -> Response:
    loaded = runtime.privacy
    audit_context(request).detail = {"privacy_config_sha256": loaded.sha256, "format": formaat}
    if formaat == "toml":
        return _attachment(loaded.text, "application/toml; charset=utf-8", "privacy.toml")
    names = {code: m.name for code, m in runtime.codelists.municipalities.items()}
    regions = {name: len(codes) for name, codes in runtime.codelists.regions.items()}
    started = reading.latest_of(session, ("service.start",))
    return render(request, "privacy/configuratie.html", **_context(
        loaded=loaded, config=loaded.configuration, floor=MINIMUM_CELL_SIZE_FLOOR, names=names, regions=regions,
        cadences=CADENCES, started=started,
        revisions_text="; ".join(REVISION_POINTS.get(r, r) for r in loaded.configuration.publication.revisions)
        or "nooit (een gepubliceerd kwartaal is definitief)"))


# ---- the DPIA annex and the processing register ---------------------------------------------------
def document_view(document: documents.Document) -> dict[str, Any]:
    """A generated document as plain data for the template (which has no isinstance)."""

    def inline(parts: documents.Inline) -> list[dict[str, Any]]:
        return [{"code": isinstance(p, documents.Code), "text": p.text if isinstance(p, documents.Code) else p}
                for p in parts]

    def block(b: documents.Block) -> dict[str, Any]:
        if isinstance(b, documents.Paragraph):
            return {"kind": "paragraph", "parts": inline(b.parts)}
        if isinstance(b, documents.Bullets):
            return {"kind": "bullets", "entries": [inline(item) for item in b.items]}
        return {"kind": "table", "headers": list(b.headers), "rows": [list(r) for r in b.rows]}

    return {"title": document.title, "intro": [block(b) for b in document.intro],
            "sections": [{"title": s.title, "blocks": [block(b) for b in s.blocks]} for s in document.sections]}


@router.get("/privacy/dpia", name="page.privacy.dpia")
@audited("page.privacy.dpia")
def dpia(
    request: Request,
    user: PrivacyOfficerUser,
    runtime: RuntimeDep,
    formaat: Annotated[str, Query(pattern=r"^(html|md)$")] = "html",
) -> Response:
    annex = documents.dpia_annex(runtime.privacy, documents.ServiceFacts.from_runtime(runtime))
    audit_context(request).detail = {"privacy_config_sha256": runtime.privacy.sha256, "format": formaat}
    if formaat == "md":
        return _attachment(documents.render_markdown(annex), "text/markdown; charset=utf-8", "dpia-bijlage.md")
    return render(request, "privacy/document.html", **_context(
        heading="DPIA-bijlage", document=document_view(annex), download="?formaat=md",
        download_label="Download als Markdown", sha256=runtime.privacy.sha256,
        lead="De bijlage bij de DPIA, gemaakt door de draaiende dienst uit de privacyconfiguratie die hij "
             "afdwingt en uit zijn eigen code (rollen, sleutelversies, drempels). Verandert een van beide, dan "
             "verandert deze tekst mee."))


@router.get("/privacy/register", name="page.privacy.register")
@audited("page.privacy.register")
def register(
    request: Request,
    user: PrivacyOfficerUser,
    runtime: RuntimeDep,
    formaat: Annotated[str, Query(pattern=r"^(html|json)$")] = "html",
) -> Response:
    record = documents.processing_register(runtime.privacy, documents.ServiceFacts.from_runtime(runtime))
    audit_context(request).detail = {"privacy_config_sha256": runtime.privacy.sha256, "format": formaat}
    if formaat == "json":
        return _attachment(json.dumps(record, indent=2, ensure_ascii=False) + "\n", "application/json",
                           "verwerkingsregister.json")
    return render(request, "privacy/document.html", **_context(
        heading="Verwerkingsregister (artikel 30 AVG)", document=document_view(documents.register_document(record)),
        download="?formaat=json", download_label="Download als JSON", sha256=runtime.privacy.sha256,
        lead="Het register van verwerkingsactiviteiten, gemaakt uit de privacyconfiguratie die de dienst nu "
             "afdwingt."))


# ---- the publication register ---------------------------------------------------------------------
FAMILY_KINDS = {"municipality": "Gemeente", "region": "Regio", "provider": "Aanbieder"}
FRAMEWORKS = {"jeugdhulp": "Jeugdhulp", "jeugdbescherming": "Jeugdbescherming",
              "jeugdreclassering": "Jeugdreclassering", "jbjr": "Jeugdbescherming en jeugdreclassering"}
RELEASE_CHECKS = {releases.RELEASE_OK: "Geldig", releases.RELEASE_CHANGED: "Ongeldig: gewijzigd na publicatie",
                  releases.RELEASE_NOT_AUDITED: "Ongeldig: hash wijkt af van het auditlog"}


def family_label(family: str, municipality_names: Mapping[str, str]) -> str:
    kind, _, ident = family.partition(":")
    if kind == "municipality":
        name = municipality_names.get(ident)
        return f"Gemeente {name} ({ident})" if name else f"Gemeente {ident}"
    if kind == "region":
        return f"Regio {ident}"
    if kind == "provider":
        return f"Aanbieder {ident}"
    return family


@router.get("/privacy/publicaties", name="page.privacy.releases")
@audited("page.privacy.releases")
def publications(
    request: Request,
    user: PrivacyOfficerUser,
    session: dependencies.ReadSession,
    runtime: RuntimeDep,
    soort: Annotated[str, Query(max_length=20)] = "",
    jaar: Annotated[str, Query(max_length=4)] = "",
    pagina: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    everything = releases.register(session)
    checks = releases.release_checks(session, runtime.keyring)
    years = sorted({item["year"] for item in everything}, reverse=True)
    shown = [item for item in everything
             if (not soort or item["family"].startswith(f"{soort}:"))
             and (not jaar or str(item["year"]) == jaar)]
    pages = max(1, -(-len(shown) // RELEASES_PAGE_SIZE))
    page = min(pagina, pages)
    names = {code: m.name for code, m in runtime.codelists.municipalities.items()}
    rows = [{**item, "family_label": family_label(item["family"], names),
             "check": checks.get(item["id"], releases.RELEASE_CHANGED),
             "cells": sum(f.get("cells", 0) for f in item["figures"].get("indicators", {}).values()),
             "withheld": sum(f.get("withheld", 0) for f in item["figures"].get("indicators", {}).values())}
            for item in shown[(page - 1) * RELEASES_PAGE_SIZE: page * RELEASES_PAGE_SIZE]]
    broken = sum(1 for c in checks.values() if c != releases.RELEASE_OK)
    audit_context(request).detail = {"releases": len(shown), "broken": broken}
    from urllib.parse import urlencode

    def link(**extra: Any) -> str:
        fields = {"soort": soort, "jaar": jaar, **extra}
        return "?" + urlencode({k: v for k, v in fields.items() if v})

    return render(request, "privacy/publicaties.html", **_context(
        rows=rows, total=len(everything), shown=len(shown), broken=broken, years=years, soort=soort, jaar=jaar,
        kinds=FAMILY_KINDS, frameworks=FRAMEWORKS, check_labels=RELEASE_CHECKS, page=page, pages=pages,
        link=link))


# ---- retention ------------------------------------------------------------------------------------
SOURCES = {"scheduler": "automatisch (de planner van de dienst)", "cli": "met de hand (ttp retention run)"}


def source_label(source: str | None) -> str:
    return SOURCES.get(source or "", source or "onbekend")


@router.get("/privacy/bewaartermijn", name="page.privacy.retention")
@audited("page.privacy.retention")
def retention(
    request: Request,
    user: PrivacyOfficerUser,
    session: dependencies.ReadSession,
    runtime: RuntimeDep,
) -> Response:
    where = reading.EntryFilter(action="retention.run")
    runs = reading.entries(session, where, limit=200, newest_first=True)
    total_runs = reading.count(session, where)

    def removed(run: dict[str, Any]) -> int:
        value = (run.get("detail") or {}).get("records_removed")
        return value if isinstance(value, int) else 0

    audit_context(request).detail = {"count": len(runs)}
    return render(request, "privacy/bewaartermijn.html", **_context(
        runs=runs, total_runs=total_runs, removed=removed, source_label=source_label,
        retention=runtime.privacy.configuration.retention))

