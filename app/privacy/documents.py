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
    "consents:write": "toestemmingen registreren en intrekken (alleen het pseudoniem van fase 2; nooit teruglezen)",
    "records:write": "eigen resultaatrecords aanleveren, corrigeren en intrekken (nooit teruglezen)",
    "reports:read": "geaggregeerde rapportages lezen, alleen voor de eigen organisatie en na statistische beveiliging",
    "notes:write": "het verhaal achter de cijfers bij de eigen rapportages plaatsen",
    "audit:read": "de auditlog lezen, exporteren en verifiëren",
    "privacy:read": "de privacyconfiguratie, deze bijlage en het verwerkingsregister lezen",
    "admin": "machineclients registreren en opvragen",
}

ORG_TYPE_NAMES = {
    OrgType.provider: "Jeugdhulpaanbieder (AGB-code)",
    OrgType.municipality: "Gemeente (CBS-code)",
    OrgType.privacy_officer: "Functionaris gegevensbescherming (FG) van de TTP",
    OrgType.admin: "Beheerder van de TTP",
}

DATA_SUBJECTS = (
    "jeugdigen die jeugdhulp, jeugdbescherming of jeugdreclassering krijgen en van wie een toestemming is "
    "geregistreerd",
    "hun ouders of voogden, als degenen die toestemming geven (alleen de rol, geen identiteit)",
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
            checkpoint_interval_seconds=runtime.settings.checkpoint_interval_seconds,
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
    return "; ".join(f"{b} ({LEGAL_BASES.get(b, 'zie de AVG')})" for b in bases)


def _months(n: int) -> str:
    return f"{n} {'maand' if n == 1 else 'maanden'}"


def _years(n: int) -> str:
    return f"{n} jaar"


def _interval(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} {'minuut' if minutes == 1 else 'minuten'}"
    return f"{seconds} seconden"


def _roles(facts: ServiceFacts) -> Table:
    rows = []
    for org_type, scopes in facts.allowed_scopes.items():
        for scope in scopes:
            rows.append((ORG_TYPE_NAMES.get(org_type, str(org_type)), scope, SCOPE_PURPOSES.get(scope, scope)))
    return Table(("organisatie", "scope", "wat die toestaat"), tuple(rows))


def _security_measures(loaded: LoadedConfiguration, facts: ServiceFacts) -> list[str]:
    d = loaded.configuration.disclosure
    return [
        "pseudonimisering in twee fasen met een geheime sleutel (HMAC-SHA256): het BSN verlaat de aanbieder nooit",
        "records versleuteld opgeslagen met AES-256-GCM onder een datasleutel per aanlevering, die zelf versleuteld "
        "is met een roterende sleutelversleutelsleutel (KEK); de datums, de leeftijd, wie de toestemming gaf en de "
        "gemeenten van een toestemming zijn op dezelfde manier verzegeld (naast een pseudoniem toont een kopie van "
        "de database alleen maanden voor het beheer: bewaartermijn, afronding van de koppeling)",
        "alleen geaggregeerde rapportages, met een minimale celgrootte van "
        f"{d.minimum_cell_size} (nooit onder {MINIMUM_CELL_SIZE_FLOOR}) en secundaire onderdrukking",
        "OAuth 2 client credentials; ondertekende toegangstokens, gebonden aan één organisatie en rol",
        "auditlog van elke toegang waaraan alleen kan worden toegevoegd (velden volgens NEN 7513), een Merkle-boom "
        f"volgens RFC 9162 en met Ed25519 ondertekende checkpoints elke {_interval(facts.checkpoint_interval_seconds)}",
        "TLS tijdens transport; strikte beveiligingsheaders; sleutels in bestanden die alleen de dienst kan lezen "
        "(mode 0600)",
    ]


def dpia_annex(loaded: LoadedConfiguration, facts: ServiceFacts) -> Document:
    """The DPIA annex: every DPIA-relevant choice the running service enforces."""
    config = loaded.configuration
    disclosure = config.disclosure
    names = facts.municipality_names
    thresholds = tuple(
        (code, names.get(code, "onbekend"), str(value))
        for code, value in sorted(disclosure.municipality_thresholds.items())
    )
    rounding = (f"getoonde aantallen worden afgerond op een veelvoud van {disclosure.rounding_base}; elk aandeel, "
                "interval en responspercentage wordt berekend uit de getoonde (afgeronde) aantallen en gemiddelde "
                "cijfers krijgen één decimaal, zodat geen enkel cijfer de exacte aantallen teruggeeft. Afronding is "
                "alleen presentatie: de onderdrukking en de publicatiecontrole hieronder gaan ervan uit dat de lezer "
                "elk gepubliceerd aantal exact kent en steunen er niet op"
                if disclosure.rounding_base else "getoonde aantallen zijn exact (geen afronding)")
    publication = config.publication
    cadence = "elk kwartaal" if publication.cadence == "quarterly" else "elke maand"
    revision_points = {"next_release": "bij de eerstvolgende publicatie na de eerste publicatie ervan",
                       "year_end": "bij de publicatie waarin het jaar voor het eerst wordt gepubliceerd"}
    revisions = ("; ".join(revision_points[r] for r in publication.revisions)
                 or "nooit (een gepubliceerd kwartaal is definitief)")
    sections = (
        Section("Partijen", (
            Table(("rol", "naam", "contact", "gegevens"), (
                _party("Verwerkingsverantwoordelijke", config.controller),
                _party("Verwerker", config.processor),
                _party("Functionaris gegevensbescherming", config.data_protection_officer),
            )),
        )),
        Section("Doelen en grondslagen", (
            Table(("doel", "omschrijving", "grondslagen"),
                  tuple((p.id, p.description, _legal_bases(p.legal_bases)) for p in config.purposes)),
            _p("Resultaatgegevens zijn gezondheidsgegevens: ze worden alleen verwerkt met uitdrukkelijke toestemming "
               "van de jeugdige of van wie namens hem of haar toestemming mag geven (Jeugdwet 7.3.4, 7.3.5, 7.3.15). "
               "Na intrekking van de toestemming stopt elk verder gebruik."),
        )),
        Section("Betrokkenen", (_bullets(*DATA_SUBJECTS),)),
        Section("Categorieën persoonsgegevens", (
            _p("Verwerkt:"),
            _bullets(*config.data_categories.processed),
            _p("Nooit geaccepteerd (dataminimalisatie; de recordschema's weigeren onbekende velden):"),
            _bullets(*config.data_categories.never_accepted),
        )),
        Section("Pseudonimisering", (
            _p("Twee fasen, elk een hash met een geheime sleutel (HMAC-SHA256) die het id van de sleutelversie "
               "draagt, zodat sleutels vervangen kunnen worden:"),
            _bullets(
                ("Fase 1, bij de aanbieder: ", Code(f"p1.<sleutel-id>.base64url(HMAC-SHA256(aanbiederssleutel, "
                                                    f"\"{STAGE1_CONTEXT.decode()}\" + BSN))"),
                 ". De aanbieders van een regeling delen de aanbiederssleutel één keer, buiten de dienst om; het BSN "
                 "verlaat de aanbieder nooit."),
                ("Fase 2, bij de TTP: ", Code(f"p2.<sleutel-id>.base64url(HMAC-SHA256(TTP-sleutel, "
                                              f"\"{STAGE2_CONTEXT.decode()}\" + waarde fase 1))"),
                 ". Alleen de TTP heeft deze sleutel; een aanbieder noch een kopie van de database kan een opgeslagen "
                 "pseudoniem terugherleiden tot een BSN."),
                ("Sleutel fase 2 in gebruik: ", Code(facts.active_pseudonym_key), "; aanwezige versies: ",
                 ", ".join(facts.pseudonym_key_ids) or "geen", "."),
                "Invoer die op een BSN lijkt, wordt geweigerd met een reden die de waarde nooit herhaalt.",
            ),
        )),
        Section("Versleuteling", (
            _bullets(
                "De inhoud van records wordt versleuteld met AES-256-GCM onder een nieuwe datasleutel per "
                "aanlevering; het record-id, de aanbieder en de formaatversie zijn als associated data gebonden, "
                "zodat een versleutelde waarde die naar een andere rij is gekopieerd niet te ontsleutelen is.",
                "Elke datasleutel wordt alleen versleuteld opgeslagen (AES-256-GCM), met een sleutelversleutelsleutel "
                "(KEK) waarvan het id aan de versleuteling is gebonden.",
                ("KEK in gebruik: ", Code(facts.active_kek), f"; aanwezige KEK's: {len(facts.kek_ids)}. ",
                 Code("ttp keys rotate"), " maakt een nieuwe KEK; ", Code("ttp keys rewrap"),
                 " versleutelt de opgeslagen datasleutels opnieuw onder die KEK, zodat oude KEK's kunnen worden "
                 "uitgefaseerd zonder verlies van gegevens."),
                ("Toegangstokens worden ondertekend met ES256 (sleutel ", Code(facts.token_key_id), "), "
                 "auditcheckpoints met Ed25519 (sleutel ", Code(facts.audit_key_id), ")."),
                "Sleutels staan in de sleutelmap, in bestanden die alleen de dienst kan lezen (mode 0600).",
            ),
        )),
        Section("Drempels en onderdrukking", (
            _bullets(
                f"Minimale celgrootte: {disclosure.minimum_cell_size} (de code weigert elke configuratie onder "
                f"{MINIMUM_CELL_SIZE_FLOOR}). Een cel met minder dan de drempel wordt onderdrukt; percentages worden "
                "alleen gegeven bij noemers op of boven de drempel.",
                f"Afrondingsbasis: {disclosure.rounding_base}: {rounding}.",
                f"Kleine aantallen: een teller of het complement daarvan onder {disclosure.small_count} wordt als "
                "bandbreedte getoond, nooit als getal.",
                "Secundaire onderdrukking: na de primaire onderdrukking worden meer cellen achtergehouden, zodat geen "
                "onderdrukte cel is terug te rekenen uit de gepubliceerde cellen en totalen, over alle rapportages "
                "die één partij kan krijgen (marges, andere uitsplitsingen, andere perioden, de regio, andere "
                "indicatoren met dezelfde noemers).",
                "Publicatiecontrole: voordat een rapportage wordt verstrekt, bevestigen lineaire programma's over "
                "alles wat die partij voor het jaar kan krijgen dat elk onderdrukt aantal nog in een interval ligt "
                "dat minstens zo breed is als de drempel, en dat een lezer die elke noemer kent (een gemeente) een "
                "onderdrukte of als bandbreedte getoonde teller niet op één waarde kan vastpinnen; faalt een "
                "controle, dan worden meer cellen achtergehouden, nooit minder.",
            ),
            _p("Drempels per gemeente (een gemeente kan alleen haar eigen drempel verhogen):"),
            Table(("gemeente", "naam", "drempel"), thresholds) if thresholds
            else _p("geen: voor elke gemeente geldt de minimale celgrootte."),
            _p("Regio's waarvan de gemeenten hebben ingestemd met regionale rapportages: ",
               ", ".join(f"{r} ({facts.region_sizes.get(r, 0)} gemeenten)"
                         for r in config.regions.reporting_agreed) or "geen", "."),
        )),
        Section("Publicatie en bescherming in de tijd", (
            _bullets(
                f"Rapportages komen alleen uit publicaties, die {cadence} door een geplande taak worden gemaakt "
                "(precies één keer over alle processen van de dienst) en nooit op verzoek worden berekend. Een "
                f"periode wordt voor het eerst gepubliceerd {publication.settle_days} dagen na het einde ervan, zodat "
                "late records en nog openstaande koppelingen eerst binnen zijn.",
                "Een gepubliceerd kwartaal kan alleen opnieuw wijzigen (late records, correcties, intrekkingen, "
                f"ingetrokken toestemmingen): {revisions}. Bij elke andere publicatie herhaalt het wat al was "
                "gepubliceerd.",
                "Elke publicatie wordt onveranderlijk opgeslagen met elke gepubliceerde cel, ondertekend met de "
                "auditsleutel, en de hash van de inhoud wordt vastgelegd in de auditlog; het publicatieregister "
                "(GET /v1/releases) laat zien wat is gepubliceerd, voor welke familie en perioden, wanneer en onder "
                "welke configuratie. Elke keer dat een rapportage wordt gelezen, komt in de auditlog met de "
                "publicatie waar die uit komt.",
                "Waarborg in de tijd: een publicatie neemt een wijziging sinds de vorige publicatie alleen over als "
                "elke cel die de partij eerder zag en nu ziet met niemand verandert of met minstens de drempel aan "
                "personen (van onderaf geteld). Een kleinere wijziging wacht op een latere publicatie, steeds in "
                "hele basiscellen, zodat elk totaal blijft kloppen; ze gaat nooit verloren. Een eerder "
                "achtergehouden cel waarvan de aantallen niet veranderden, blijft achtergehouden. Het verschil "
                "tussen twee publicaties isoleert dus nooit minder personen dan de drempel, en in het bijzonder "
                "nooit het resultaat van één kind; de publicatie zelf doorloopt daarna dezelfde onderdrukking en "
                "publicatiecontrole als elke momentopname.",
                "Wat wacht, ziet de aanbieder zelf: GET /v1/reports/providers/{agb}/pending, de pagina "
                "Aanleveringen en `ttp records pending` vergelijken zijn eigen records nu met wat de huidige "
                "publicatie van zijn spiegelfamilie telde, zonder 3.2 en herhaald beroep (die hangen ook van "
                "records van andere aanbieders af). Van anderen kan hij daaruit hooguit leren dat de wijzigingen "
                "in een cel te klein waren om te publiceren, nooit een aantal.",
                "Bekende beperking: in een gepubliceerde wijziging van minstens de drempel aan personen wordt het "
                "aantal met de uitkomst niet als bandbreedte getoond, zoals bij een kleine teller van een cel wel "
                "gebeurt (als zij allemaal de uitkomst hadden, laat het verschil dat voor die groep zien).",
            ),
        )),
        Section("Koppeling en indicatoren", (
            _bullets(
                f"Een nieuwe start telt mee binnen {_months(config.linkage.new_start_window_months)} na het einde van "
                "een traject (indicator 3.2, \"geen nieuwe start\"), alleen gekoppeld via het pseudoniem van fase 2.",
                f"Een tevredenheidscijfer van {config.indicators.satisfaction_cutoff} of hoger telt als tevreden.",
            ),
        )),
        Section("Bewaartermijnen", (
            _bullets(
                f"Resultaatrecords: {_months(config.retention.records_months)} na het einde van het traject.",
                f"Auditregels: {_years(config.retention.audit_years)}.",
            ),
        )),
        Section("Ontvangers", (
            Table(("ontvanger", "ontvangt"), tuple((r.name, r.receives) for r in config.recipients)),
            _p("Niemand krijgt een record, een pseudoniem of de persoonsgegevens van een toestemming terug."),
        )),
        Section("Toegangsrollen", (
            _p("Elk toegangstoken is gebonden aan één organisatie en geeft alleen deze scopes:"),
            _roles(facts),
        )),
        Section("Toegangsbeperkingen", (
            _bullets(
                f"Een client-id die {config.limits.failed_authentications} keer achter elkaar niet kan "
                f"authenticeren, wordt {config.limits.lockout_minutes} minuten geblokkeerd, over alle processen heen "
                "(bijgehouden in de database); een onbekend client-id wordt op dezelfde manier geblokkeerd, zodat de "
                "antwoorden niet verraden of een client bestaat. Elke blokkade is een auditregel.",
                f"Per client en API-proces: {config.limits.token_requests_per_minute} tokenverzoeken en "
                f"{config.limits.write_requests_per_minute} schrijfverzoeken per minuut, "
                f"{config.limits.concurrent_reports} rapportageverzoeken tegelijk; daarboven is het antwoord 429 met "
                "Retry-After.",
                "Een uitgeschakelde client krijgt geen token en zijn tokens werken direct niet meer; een vervangen "
                f"secret blijft nog {config.limits.secret_rotation_grace_hours} uur werken.",
            ),
        )),
        Section("Auditlog", (
            _bullets(
                "Elke toegang tot gegevens, toegestaan of geweigerd, levert een auditregel op: wie, organisatie, rol, "
                "actie, doel, object, tijd, resultaat (naar NEN 7513).",
                "De log is in de database alleen aan te vullen (append-only) en wordt gehasht in een Merkle-boom "
                "volgens RFC 9162; ondertekende checkpoints worden gemaakt elke "
                f"{_interval(facts.checkpoint_interval_seconds)} en op verzoek.",
                ("Het wijzigen, verwijderen of van volgorde veranderen van een regel wordt ontdekt door ",
                 Code("ttp audit verify"), "; de FG kan een checkpoint bewaren en later controleren dat de log "
                 "alleen is gegroeid."),
                "De SHA-256 van de privacyconfiguratie wordt bij elke start vastgelegd, met of die is gewijzigd.",
            ),
        )),
        Section("Configuratie", (
            Table(("versie", "SHA-256"), ((config.version, loaded.sha256),)),
        )),
    )
    intro = (
        _p("Gegenereerd door de draaiende dienst uit de privacyconfiguratie die hij handhaaft en uit zijn eigen "
           "code. De tekst verandert als een van beide verandert."),
        _p("Configuratieversie ", Code(config.version), ", SHA-256 ", Code(loaded.sha256), "."),
    )
    return Document("DPIA-bijlage: Outcome TTP", intro, sections)


def processing_register(loaded: LoadedConfiguration, facts: ServiceFacts) -> dict[str, Any]:
    """The record of processing activities (GDPR art. 30) as a JSON-ready dict.

    The keys are stable (clients and tests read them); the values and prose are Dutch."""
    config = loaded.configuration

    def party(p: Party) -> dict[str, Any]:
        return {"name": p.name, "contact": p.contact, "address": p.address,
                "chamber_of_commerce": p.chamber_of_commerce}

    return {
        "title": "Verwerkingsregister (art. 30 AVG): Outcome TTP",
        "configuration": {"version": config.version, "sha256": loaded.sha256},
        "controller": party(config.controller),
        "processor": party(config.processor),
        "data_protection_officer": party(config.data_protection_officer),
        "processing": "Monitoring van de resultaten van jeugdzorg via een Trusted Third Party (TTP): "
                      "gepseudonimiseerde resultaatrecords op basis van toestemming erin, geaggregeerde "
                      "rapportages eruit",
        "purposes": [
            {"id": p.id, "description": p.description,
             "legal_bases": [{"article": b, "meaning": LEGAL_BASES.get(b, "")} for b in p.legal_bases]}
            for p in config.purposes
        ],
        "data_subjects": list(DATA_SUBJECTS),
        "personal_data": list(config.data_categories.processed),
        "special_categories": ["gezondheidsgegevens (resultaten van jeugdzorg)"],
        "never_accepted": list(config.data_categories.never_accepted),
        "recipients": [{"name": r.name, "receives": r.receives} for r in config.recipients],
        "third_country_transfers": "geen: de dienst verstrekt gegevens alleen aan de genoemde ontvangers",
        "retention": {
            "records_months": config.retention.records_months,
            "audit_years": config.retention.audit_years,
            "records": f"{_months(config.retention.records_months)} na het einde van het traject",
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
    org_names = {str(org_type): name for org_type, name in ORG_TYPE_NAMES.items()}
    retention = register["retention"]
    sections = (
        Section("Verwerkingsverantwoordelijke, verwerker en functionaris gegevensbescherming", (
            Table(("rol", "naam", "contact", "gegevens"), (
                party_row("Verwerkingsverantwoordelijke", register["controller"]),
                party_row("Verwerker", register["processor"]),
                party_row("Functionaris gegevensbescherming", register["data_protection_officer"]),
            )),
        )),
        Section("Verwerking", (_p(register["processing"]),)),
        Section("Doelen en grondslagen", (Table(("doel", "omschrijving", "grondslagen"), purposes),)),
        Section("Betrokkenen", (_bullets(*register["data_subjects"]),)),
        Section("Persoonsgegevens", (
            _bullets(*register["personal_data"]),
            _p("Bijzondere persoonsgegevens: ", ", ".join(register["special_categories"]), "."),
            _p("Nooit geaccepteerd: ", ", ".join(register["never_accepted"]), "."),
        )),
        Section("Ontvangers", (Table(("ontvanger", "ontvangt"),
                                     tuple((r["name"], r["receives"]) for r in register["recipients"])),)),
        Section("Doorgifte naar derde landen", (_p(register["third_country_transfers"]),)),
        Section("Bewaartermijnen", (_bullets(f"Resultaatrecords: {retention['records']}.",
                                             f"Auditlog: {retention['audit_log']}."),)),
        Section("Beveiligingsmaatregelen (art. 32 AVG)", (_bullets(*register["security_measures"]),)),
        Section("Toegangsrollen", (Table(("organisatie", "scopes"), tuple(
            (org_names.get(r["organisation"], r["organisation"]), ", ".join(r["scopes"]))
            for r in register["access_roles"])),)),
    )
    configuration = register["configuration"]
    intro = (_p("Configuratieversie ", Code(configuration["version"]), ", SHA-256 ",
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
        '<!DOCTYPE html>\n<html lang="nl">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{title}</title>\n'
        "</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )
