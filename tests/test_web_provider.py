"""The provider's pages over real HTTP (TestClient, logged in with password and TOTP): uploads,
stories and the JB/JR process context; screening, CSRF and other organisations' pages."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import AuditEntry, ProcessContext, ProviderNote
from tests.test_process_context import jb_record
from tests.test_records_api import PROVIDER, Population, post
from tests.web_person import hidden, text_of

OTHER = "40000009"
STORY = "Wachtlijst in het eerste kwartaal door personeelstekort; de uitval steeg daardoor."
ISSUE_EXAMPLE = "Jan de Vries (BSN 111222333, Damstraat 1)"


@pytest.fixture
def records(api, token_for) -> None:
    """PROVIDER has jeugdhulp records for GM0363 (Amsterdam) and JB records for GM0014 (Groningen);
    OTHER has jeugdhulp records for GM0344 (Utrecht)."""
    headers = token_for("provider", PROVIDER)
    people = Population(api, headers)
    batch = [people.record(n) for n in range(3)] + [jb_record(people, 20, "GM0014")]
    assert post(api, headers, batch).status_code == 200
    other = token_for("provider", OTHER)
    assert post(api, other, [Population(api, other).record(40, municipality="GM0344")]).status_code == 200


@pytest.fixture
def provider(person, records) -> TestClient:
    return person("provider", PROVIDER)


def stored_notes(app) -> list[tuple[str, str, str, str]]:
    with app.state.runtime.sessions() as session:
        return [(n.provider_id, n.municipality, n.period, n.text)
                for n in session.execute(select(ProviderNote).order_by(ProviderNote.id)).scalars()]


def stored_contexts(app) -> list[tuple[str, str, str]]:
    with app.state.runtime.sessions() as session:
        return [(c.provider_id, c.municipality, c.period)
                for c in session.execute(select(ProcessContext).order_by(ProcessContext.id)).scalars()]


def audit(app, action: str) -> list[AuditEntry]:
    with app.state.runtime.sessions() as session:
        found = list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                     .order_by(AuditEntry.seq)).scalars())
        session.expunge_all()
        return found


def write(client: TestClient, text: str, municipality: str = "GM0363", period: str = "2025-Q1", *,
          agb: str = PROVIDER, csrf: str | None = None) -> Any:
    token = csrf if csrf is not None else hidden(client.get(f"/aanbieder/{PROVIDER}/verhalen").text, "csrf_token")
    data = {"gemeente": municipality, "periode": period, "tekst": text}
    if token:
        data["csrf_token"] = token
    return client.post(f"/aanbieder/{agb}/verhalen", data=data, follow_redirects=False)


# ---- stories ------------------------------------------------------------------------------------
def test_a_provider_writes_a_story_and_sees_it(app, provider) -> None:
    page = provider.get(f"/aanbieder/{PROVIDER}/verhalen")
    assert page.status_code == 200
    seen = text_of(page.text)
    assert "Verhaal achter de cijfers" in seen and "U heeft nog geen verhalen geschreven." in seen
    # Only the municipalities where it has records are offered.
    assert re.findall(r'<option value="(GM\d{4})"', page.text) == ["GM0014", "GM0363"]
    sent = write(provider, STORY)
    assert sent.status_code == 303 and sent.headers["location"] == f"/aanbieder/{PROVIDER}/verhalen?bericht=opgeslagen"
    after = text_of(provider.get(sent.headers["location"]).text)
    assert "Uw verhaal is opgeslagen." in after
    assert STORY in after and "Amsterdam (GM0363)" in after and "1e kwartaal 2025" in after
    assert stored_notes(app) == [(PROVIDER, "GM0363", "2025-Q1", STORY)]
    saved = audit(app, "page.provider.stories.save")[-1]
    assert (saved.status, saved.org_id, saved.resource, saved.detail) == (
        303, PROVIDER, "notes/GM0363/2025-Q1", {"characters": len(STORY)})


def test_a_story_with_a_bsn_is_refused_with_the_message_and_nothing_is_stored(app, provider) -> None:
    refused = write(provider, ISSUE_EXAMPLE)
    assert refused.status_code == 400
    seen = text_of(refused.text)
    assert ("Uw tekst lijkt een BSN (positie 19) en een adres met huisnummer (positie 30) te bevatten. "
            "Haal persoonsgegevens weg en probeer het opnieuw.") in seen
    # The writer's text stays in the form, to be corrected.
    kept = re.search(r'<textarea[^>]*id="tekst"[^>]*aria-invalid="true"[^>]*>([^<]*)</textarea>', refused.text)
    assert kept and kept[1] == html.escape(ISSUE_EXAMPLE, quote=True)
    assert stored_notes(app) == []
    entry = audit(app, "page.provider.stories.save")[-1]
    assert entry.status == 400 and entry.detail == {"refused": ["adres", "bsn"]}
    assert "111222333" not in str([e.detail for e in audit(app, "page.provider.stories.save")])
    # A BSN alone, in another style, is named as a BSN.
    alone = text_of(write(provider, "Dossier 111.222.333 is gesloten.").text)
    assert "Uw tekst lijkt een BSN te bevatten (positie 9)." in alone
    assert stored_notes(app) == []


def test_a_form_without_its_csrf_token_is_refused_and_nothing_changes(app, provider) -> None:
    assert write(provider, STORY).status_code == 303
    before = stored_notes(app)
    for token in ("", "vervalst"):
        refused = write(provider, "Een andere tekst.", csrf=token)
        assert refused.status_code == 403
        assert "Dit formulier is verlopen" in text_of(refused.text)
        gone = provider.post(f"/aanbieder/{PROVIDER}/verhalen/intrekken",
                             data={"gemeente": "GM0363", "periode": "2025-Q1", "csrf_token": token})
        assert gone.status_code == 403
    assert stored_notes(app) == before


def test_no_story_where_the_provider_has_no_records(app, provider) -> None:
    refused = write(provider, STORY, municipality="GM0344")  # a forged select value
    assert refused.status_code == 403
    assert "alleen een verhaal schrijven voor een gemeente waar u records voor heeft" in text_of(refused.text)
    assert STORY in refused.text  # kept in the form
    assert stored_notes(app) == []


def test_another_providers_pages_are_not_found_and_its_story_is_untouched(app, person, provider) -> None:
    other = person("provider", OTHER)
    assert write(other, "Ons verhaal over Utrecht.", "GM0344", agb=OTHER,
                 csrf=hidden(other.get(f"/aanbieder/{OTHER}/verhalen").text, "csrf_token")).status_code == 303
    for path in ("aanleveringen", "verhalen", "context"):
        page = provider.get(f"/aanbieder/{OTHER}/{path}")
        assert page.status_code == 404, path
        assert "Ons verhaal" not in page.text
    token = hidden(provider.get(f"/aanbieder/{PROVIDER}/verhalen").text, "csrf_token")
    # Its own valid token, on the other provider's form: not found, nothing changed.
    assert write(provider, "Overschreven", "GM0344", agb=OTHER, csrf=token).status_code == 404
    assert provider.post(f"/aanbieder/{OTHER}/verhalen/intrekken",
                         data={"gemeente": "GM0344", "periode": "2025-Q1", "csrf_token": token}).status_code == 404
    # And its own withdraw form cannot reach the other provider's story.
    assert provider.post(f"/aanbieder/{PROVIDER}/verhalen/intrekken",
                         data={"gemeente": "GM0344", "periode": "2025-Q1", "csrf_token": token}).status_code == 404
    assert stored_notes(app) == [(OTHER, "GM0344", "2025-Q1", "Ons verhaal over Utrecht.")]
    municipality = person("municipality", "GM0363")
    assert municipality.get(f"/aanbieder/{PROVIDER}/verhalen").status_code == 403


def test_not_logged_in_goes_to_the_login_page(api) -> None:
    page = api.get(f"/aanbieder/{PROVIDER}/verhalen", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/inloggen?volgende=")


def test_a_story_is_edited_and_withdrawn(app, provider) -> None:
    assert write(provider, STORY).status_code == 303
    edit = provider.get(f"/aanbieder/{PROVIDER}/verhalen", params={"gemeente": "GM0363", "periode": "2025-Q1"})
    assert "Verhaal schrijven of bewerken" in text_of(edit.text)
    kept = re.search(r'<textarea[^>]*id="tekst"[^>]*>([^<]*)</textarea>', edit.text)
    assert kept and kept[1] == html.escape(STORY)
    assert 'value="2025-Q1" selected' in edit.text and 'value="GM0363" selected' in edit.text
    assert write(provider, "Sinds 1 maart 2025 een extra team.").status_code == 303
    assert stored_notes(app) == [(PROVIDER, "GM0363", "2025-Q1", "Sinds 1 maart 2025 een extra team.")]
    token = hidden(edit.text, "csrf_token")
    gone = provider.post(f"/aanbieder/{PROVIDER}/verhalen/intrekken",
                         data={"gemeente": "GM0363", "periode": "2025-Q1", "csrf_token": token})
    assert gone.status_code == 200 and "Uw verhaal is ingetrokken." in text_of(gone.text)
    assert stored_notes(app) == []
    assert [e.status for e in audit(app, "page.provider.stories.withdraw")] == [303]


# ---- uploads ------------------------------------------------------------------------------------
def test_the_uploads_page_shows_batches_and_counts_never_contents(app, provider) -> None:
    page = provider.get(f"/aanbieder/{PROVIDER}/aanleveringen")
    assert page.status_code == 200
    seen = text_of(page.text)
    assert "1 aanlevering ontvangen" in seen
    assert "Amsterdam (GM0363)" in seen and "Groningen (GM0014)" in seen and "Utrecht" not in seen
    assert re.search(r"bat-[A-Za-z0-9_-]+", seen)
    # Three jeugdhulp records counted in Amsterdam's first indicator (uitval); no linkage indicator.
    assert "Kwartaal Kader 1 Uitval 2 Tevredenheid over nut en effect" in seen
    assert re.search(r"2e kwartaal 2025 Jeugdhulp 3 ", seen), seen
    assert "Geen nieuwe start" not in seen and "herhaald beroep Records" not in seen and "informant" not in seen
    for hidden_value in ("r-0-0", "jb-20", "cns-", "ots-"):
        assert hidden_value not in page.text
    with app.state.runtime.sessions() as session:
        from app.models import OutcomeRecord
        pseudonyms = list(session.execute(select(OutcomeRecord.pseudonym)).scalars())
    assert pseudonyms and not any(p in page.text for p in pseudonyms)
    assert [e.status for e in audit(app, "page.provider.uploads")] == [200]


# ---- the JB/JR process context -----------------------------------------------------------------
def context_form(client: TestClient, **fields: str) -> dict[str, str]:
    token = hidden(client.get(f"/aanbieder/{PROVIDER}/context").text, "csrf_token")
    return {"csrf_token": token, "gemeente": "GM0014", "periode": "2025-Q1", **fields}


def test_a_jb_provider_gives_its_process_context_and_sees_it(app, provider) -> None:
    page = provider.get(f"/aanbieder/{PROVIDER}/context")
    assert re.findall(r'<option value="(GM\d{4})"', page.text) == ["GM0014"]  # JB records only there
    sent = provider.post(f"/aanbieder/{PROVIDER}/context", follow_redirects=False, data=context_form(
        provider, issues="Wachtlijst van zes weken.", methods="Deltamethode"))
    assert sent.status_code == 303, sent.text
    seen = text_of(provider.get(sent.headers["location"]).text)
    assert "Uw procescontext is opgeslagen." in seen
    assert "Kwesties Wachtlijst van zes weken." in seen and "Gebruikte methoden Deltamethode" in seen
    assert stored_contexts(app) == [(PROVIDER, "GM0014", "2025-Q1")]


def test_a_context_with_personal_data_is_refused_per_field_and_kept(app, provider) -> None:
    refused = provider.post(f"/aanbieder/{PROVIDER}/context", data=context_form(
        provider, issues="Wachtlijst.", target_group="Moeder bereikbaar op 06-12345678"))
    assert refused.status_code == 400
    seen = text_of(refused.text)
    assert "Kenmerken van de doelgroep lijkt persoonsgegevens te bevatten" in seen
    assert "Uw tekst lijkt een telefoonnummer te bevatten (positie 22)." in seen
    assert "Moeder bereikbaar op 06-12345678</textarea>" in refused.text
    assert stored_contexts(app) == []
    # Not where it has no JB/JR records (Amsterdam: jeugdhulp only).
    elsewhere = provider.post(f"/aanbieder/{PROVIDER}/context",
                              data={**context_form(provider, issues="Wachtlijst."), "gemeente": "GM0363"})
    assert elsewhere.status_code == 403 and stored_contexts(app) == []
    no_csrf = provider.post(f"/aanbieder/{PROVIDER}/context", data={"gemeente": "GM0014", "periode": "2025-Q1",
                                                                    "issues": "Wachtlijst."})
    assert no_csrf.status_code == 403 and stored_contexts(app) == []


def test_a_provider_without_jbjr_records_is_told_so(person, records) -> None:
    other = person("provider", OTHER)
    seen = text_of(other.get(f"/aanbieder/{OTHER}/context").text)
    assert "U heeft (nog) geen JB- of JR-records aangeleverd" in seen


def test_the_context_form_sends_every_field_the_service_knows() -> None:
    import inspect

    from app.reports import process_context
    from app.web import provider_pages
    params = inspect.signature(provider_pages.save_context).parameters
    assert set(process_context.FIELD_NAMES) <= set(params)
