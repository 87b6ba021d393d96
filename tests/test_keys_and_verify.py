"""`ttp verify`, `ttp keys rotate|rewrap|retire` through the command line, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from app.cli import cli
from app.models import AuditEntry, ConsentRecord, RecordBatch, ReportCell
from app.settings import Settings
from tests.test_records_api import Population, post

runner = CliRunner()


def env(settings: Settings) -> dict[str, str]:
    return {
        "TTP_DATA_DIR": str(settings.data_dir),
        "TTP_DATABASE_URL": settings.resolved_database_url,
        "TTP_KEY_DIR": str(settings.key_dir),
        "TTP_PRIVACY_CONFIG": str(settings.privacy_config),
        "TTP_LOG_LEVEL": "WARNING",
    }


def ttp(settings: Settings, *args: str):
    return runner.invoke(cli, list(args), env=env(settings))


@pytest.fixture
def ingested(api, token_for, app):
    provider = token_for("provider", "40000001")
    people = Population(api, provider)
    for batch in range(3):
        response = post(api, provider, [people.record(n, index=batch) for n in range(batch * 10, batch * 10 + 10)])
        assert response.status_code == 200, response.text
    return people


def test_verify_passes_then_catches_a_corrupted_count(ingested, settings, app) -> None:
    result = ttp(settings, "verify")
    assert result.exit_code == 0, result.output
    assert "aggregate store matches: 30 records" in result.output
    with app.state.runtime.sessions() as session:
        session.execute(
            update(ReportCell)
            .where(ReportCell.id == select(ReportCell.id).limit(1).scalar_subquery())
            .values(count=ReportCell.count + 3)
        )
        session.commit()
    broken = ttp(settings, "verify")
    assert broken.exit_code == 1
    assert "differs from the records in 1 cells" in broken.output
    repaired = ttp(settings, "verify", "--rebuild")
    assert repaired.exit_code == 0
    assert ttp(settings, "verify").exit_code == 0


def test_rotate_rewrap_retire_keep_every_record_readable(ingested, settings, app) -> None:
    old_kek = app.state.runtime.keyring.active["kek"]
    rotated = ttp(settings, "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert ttp(settings, "verify").exit_code == 0  # old data readable under the old KEK
    refused = ttp(settings, "keys", "retire", "--kek", old_kek)
    assert refused.exit_code == 2 and "still wrapped" in refused.output
    rewrapped = ttp(settings, "keys", "rewrap")
    assert rewrapped.exit_code == 0 and "re-wrapped 3 data keys" in rewrapped.output
    assert "and 30 of consents" in rewrapped.output  # the consents' sealed dates move too
    with app.state.runtime.sessions() as session:
        assert {b.kek_id for b in session.execute(select(RecordBatch)).scalars()} != {old_kek}
        assert old_kek not in set(session.execute(select(ConsentRecord.kek_id)).scalars())
    retired = ttp(settings, "keys", "retire", "--kek", old_kek)
    assert retired.exit_code == 0, retired.output
    assert not (Path(settings.key_dir) / "kek" / f"{old_kek}.key").exists()
    verified = ttp(settings, "verify")
    assert verified.exit_code == 0, verified.output
    assert "30 records" in verified.output
    # Every consent opens under the keys that remain (its data key moved to the new KEK).
    from app.consents.sealing import open_fields
    from app.crypto.envelope import Unsealer
    from app.crypto.keyring import Keyring

    unsealer = Unsealer(Keyring.open(Path(settings.key_dir)).keks())
    with app.state.runtime.sessions() as session:
        opened = [open_fields(unsealer, row) for row in session.execute(select(ConsentRecord)).scalars()]
    assert len(opened) == 30 and {f.age_at_consent for f in opened} == {16}
    with app.state.runtime.sessions() as session:
        actions = (
            session.execute(select(AuditEntry.action).where(AuditEntry.action.like("keys.%")).order_by(AuditEntry.seq))
            .scalars()
            .all()
        )
    assert actions == ["keys.rotate", "keys.rewrap", "keys.retire"]


def test_key_files_made_by_rotation_are_private(ingested, settings) -> None:
    ttp(settings, "keys", "rotate")
    for path in (Path(settings.key_dir) / "kek").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600


def test_records_template_is_the_csv_header(settings) -> None:
    result = ttp(settings, "records", "template")
    assert result.exit_code == 0
    header = result.output.splitlines()[0].split(",")
    assert header[:3] == ["record_id", "framework", "pseudonym"] or "record_id" in header
    assert "outcomes.satisfaction.mark" in header
