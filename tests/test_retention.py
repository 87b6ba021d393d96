"""Retention: records past the configured window leave the store, their counts, and verify stays clean."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from app.models import AuditEntry, OutcomeRecord
from tests.test_keys_and_verify import ttp
from tests.test_records_api import Population, counts, post, verify


def test_retention_removes_old_records_and_their_counts(api, token_for, app, settings) -> None:
    provider = token_for("provider", "40000001")
    people = Population(api, provider)
    months = app.state.runtime.privacy.configuration.retention.records_months
    old_end = date.today() - timedelta(days=31 * (months + 2))
    recent_end = date.today() - timedelta(days=40)
    old = [people.record(n, start_date=(old_end - timedelta(days=60)).isoformat(), end_date=old_end.isoformat())
           for n in range(3)]
    recent = [people.record(n, index=1, start_date=(recent_end - timedelta(days=60)).isoformat(),
                            end_date=recent_end.isoformat()) for n in range(3, 5)]
    ongoing = [people.record(9, index=2, start_date="2020-01-01", end_date=None, end_reason=None)]
    assert post(api, provider, old + recent + ongoing).status_code == 200
    before = counts(app)
    old_quarter = f"{old_end.year}-Q{(old_end.month - 1) // 3 + 1}"
    assert any(k.period == old_quarter for k in before)

    result = ttp(settings, "retention", "run")
    assert result.exit_code == 0, result.output
    assert "removed 3 records" in result.output

    after = counts(app)
    assert not any(k.period == old_quarter for k in after)
    assert sum(n for k, n in after.items() if k.indicator == "1") == 2
    with app.state.runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(OutcomeRecord)).scalar_one() == 3  # incl. ongoing
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "retention.run")).scalar_one()
        assert entry.detail["records_removed"] == 3
    assert verify(app).ok
    again = ttp(settings, "retention", "run")
    assert "removed 0 records" in again.output


def test_a_restarted_service_purges_at_start_and_no_report_counts_what_is_past_retention(
    api, token_for, app, settings
) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app

    provider = token_for("provider", "40000001")
    people = Population(api, provider)
    months = app.state.runtime.privacy.configuration.retention.records_months
    old_end = date.today() - timedelta(days=31 * (months + 2))
    old = [people.record(n, start_date=(old_end - timedelta(days=60)).isoformat(), end_date=old_end.isoformat())
           for n in range(3)]
    assert post(api, provider, old).status_code == 200
    assert sum(counts(app).values()) > 0

    # a restart of a service that runs the periodic jobs (the test apps do not): no hour waited
    with_jobs = settings.model_copy(update={"run_jobs": True})
    with TestClient(create_app(with_jobs), base_url="https://testserver") as restarted:
        assert sum(counts(app).values()) == 0
        with app.state.runtime.sessions() as session:
            entry = session.execute(select(AuditEntry).where(AuditEntry.action == "retention.run")).scalar_one()
            assert entry.detail["records_removed"] == 3
        municipality = token_for("municipality", "GM0363")
        old_quarter = f"{old_end.year}-Q{(old_end.month - 1) // 3 + 1}"
        gone = restarted.get("/v1/reports/municipalities/GM0363", params={"period": old_quarter},
                             headers=municipality)
        assert gone.status_code == 410, gone.text
        assert gone.json()["type"] == "urn:outcome-ttp:problem:past-retention"
