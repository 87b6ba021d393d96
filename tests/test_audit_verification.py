"""`ttp audit verify`: an honest log passes; a changed, removed, reordered or cut log fails and the
first bad entry is named. Tampering drops the append-only triggers first, as an attacker with
database access would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from app.audit import checkpoint_store
from app.audit.commands import audit_cli
from app.audit.events import AuditDetailError, record_key_event, start_detail
from app.audit.log import canonical_bytes, entry_values
from app.audit.merkle import leaf_hash
from app.audit.verification import verify_log
from app.models import AuditCheckpoint, AuditEntry

ENTRIES = AuditEntry.__table__


# ---- helpers ------------------------------------------------------------------------------------
def drop_append_only(engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for statement in ("DROP TRIGGER audit_entries_no_update ON audit_entries",
                              "DROP TRIGGER audit_entries_no_truncate ON audit_entries",
                              "DROP TRIGGER audit_checkpoints_no_update ON audit_checkpoints",
                              "DROP TRIGGER audit_checkpoints_no_truncate ON audit_checkpoints"):
                connection.execute(text(statement))
        else:
            for name in ("audit_entries_no_update", "audit_entries_no_delete",
                         "audit_checkpoints_no_update", "audit_checkpoints_no_delete"):
                connection.execute(text(f"DROP TRIGGER {name}"))


def size(app) -> int:
    with app.state.runtime.sessions() as session:
        return session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def fill(api, headers, n: int) -> None:
    for _ in range(n):
        assert api.get("/v1/privacy/configuration", headers=headers).status_code == 200


def verify(app, saved=None, saved_key=None):
    runtime = app.state.runtime
    with runtime.sessions() as session:
        return verify_log(session, runtime.keyring, saved, saved_key)


def row(app, seq: int) -> dict:
    with app.state.runtime.engine.connect() as connection:
        return dict(connection.execute(select(ENTRIES).where(ENTRIES.c.seq == seq)).one()._mapping)


def execute(app, statement, **params) -> None:
    with app.state.runtime.engine.begin() as connection:
        connection.execute(statement if not isinstance(statement, str) else text(statement), params)


@pytest.fixture
def cli_env(settings) -> dict[str, str]:
    return {
        "TTP_DATABASE_URL": settings.database_url,
        "TTP_KEY_DIR": str(settings.key_dir),
        "TTP_PRIVACY_CONFIG": str(settings.privacy_config),
        "TTP_DATA_DIR": str(settings.data_dir),
        "TTP_ENV": "development",
        "TTP_LOG_LEVEL": "WARNING",
    }


def ttp_audit(env: dict[str, str], *args: str):
    return CliRunner().invoke(audit_cli, list(args), env=env)


@pytest.fixture
def officer(token_for):
    return token_for("privacy_officer", "TTP")


# ---- an honest log ------------------------------------------------------------------------------
def test_honest_log_passes_in_process_and_through_the_cli(api, app, officer, cli_env, tmp_path) -> None:
    fill(api, officer, 5)
    assert api.get("/v1/audit/checkpoint", headers=officer).status_code == 200
    fill(api, officer, 3)
    outcome = verify(app)
    assert outcome.ok, outcome.first_problem
    assert outcome.entries == size(app)
    assert outcome.checkpoints_checked == 1

    saved = tmp_path / "checkpoint.json"
    made = ttp_audit(cli_env, "checkpoint", "--output", str(saved))
    assert made.exit_code == 0, made.stderr
    assert saved.stat().st_mode & 0o777 == 0o600
    document = json.loads(saved.read_text())
    assert document["size"] == size(app)
    fill(api, officer, 2)  # the log grows after the officer saved the checkpoint: still fine
    result = ttp_audit(cli_env, "verify", "--checkpoint", str(saved))
    assert result.exit_code == 0, result.stderr
    assert "audit log intact" in result.stdout
    assert f"extends the saved checkpoint of {document['timestamp']} ({document['size']} entries)" in result.stdout
    assert ttp_audit(cli_env, "verify").exit_code == 0


def test_checkpoint_command_prints_json_and_reuses_an_unchanged_head(api, app, cli_env) -> None:
    first = ttp_audit(cli_env, "checkpoint")
    assert first.exit_code == 0, first.stderr
    second = ttp_audit(cli_env, "checkpoint")
    assert json.loads(first.stdout) == json.loads(second.stdout)  # the log did not grow: same checkpoint
    with app.state.runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(AuditCheckpoint)).scalar_one() == 1


def test_empty_log_verifies(app) -> None:
    # `app` without `api`: no lifespan, so not even the start entry.
    outcome = verify(app)
    assert outcome.ok and outcome.entries == 0


# ---- tampering ----------------------------------------------------------------------------------
def test_a_changed_field_is_named(api, app, officer, cli_env) -> None:
    fill(api, officer, 6)
    drop_append_only(app.state.runtime.engine)
    execute(app, "UPDATE audit_entries SET org_id = 'SOMEONE' WHERE seq = 4")
    execute(app, "UPDATE audit_entries SET result = 'success' WHERE seq = 6")
    outcome = verify(app)
    assert not outcome.ok
    assert outcome.first_problem.seq == 4
    assert outcome.first_problem.reason == "entry 4 was changed"
    result = ttp_audit(cli_env, "verify")
    assert result.exit_code == 1
    assert result.stderr.strip() == "audit log broken: entry 4 was changed"
    assert result.stdout == ""


def test_a_deleted_entry_is_named(api, app, officer, cli_env) -> None:
    fill(api, officer, 6)
    drop_append_only(app.state.runtime.engine)
    execute(app, "DELETE FROM audit_entries WHERE seq = 5")
    assert verify(app).first_problem.reason == "entry 5 is missing"
    execute(app, "DELETE FROM audit_entries WHERE seq IN (2, 3)")
    result = ttp_audit(cli_env, "verify")
    assert result.exit_code == 1
    assert "entries 2 to 3 are missing" in result.stderr


def test_swapped_sequence_numbers_are_named(api, app, officer, cli_env) -> None:
    fill(api, officer, 6)
    drop_append_only(app.state.runtime.engine)
    execute(app, "UPDATE audit_entries SET seq = -1 WHERE seq = 3")
    execute(app, "UPDATE audit_entries SET seq = 3 WHERE seq = 5")
    execute(app, "UPDATE audit_entries SET seq = 5 WHERE seq = -1")
    outcome = verify(app)
    assert outcome.first_problem.seq == 3
    assert outcome.first_problem.reason == "entries out of order at 3: entry 3 holds what was entry 5"
    result = ttp_audit(cli_env, "verify")
    assert result.exit_code == 1
    assert "entries out of order at 3" in result.stderr


@pytest.mark.parametrize("with_leaf_hash", [True, False], ids=["leaf-moved-too", "leaf-left-in-place"])
def test_entries_swapped_in_every_field_but_seq_are_named(api, app, officer, with_leaf_hash) -> None:
    fill(api, officer, 6)
    drop_append_only(app.state.runtime.engine)
    a, b = row(app, 4), row(app, 7)
    keep = {"seq"} if with_leaf_hash else {"seq", "leaf_hash"}
    execute(app, update(ENTRIES).where(ENTRIES.c.seq == 4).values({k: v for k, v in b.items() if k not in keep}))
    execute(app, update(ENTRIES).where(ENTRIES.c.seq == 7).values({k: v for k, v in a.items() if k not in keep}))
    assert verify(app).first_problem.reason == "entries out of order at 4: entry 4 holds what was entry 7"


def test_a_cut_tail_is_caught_by_the_saved_checkpoint(api, app, officer, cli_env, tmp_path) -> None:
    fill(api, officer, 4)
    saved = tmp_path / "checkpoint.json"
    assert ttp_audit(cli_env, "checkpoint", "--output", str(saved)).exit_code == 0
    document = json.loads(saved.read_text())
    covered = document["size"]
    fill(api, officer, 2)
    drop_append_only(app.state.runtime.engine)
    keep = covered - 3
    execute(app, "DELETE FROM audit_entries WHERE seq > :keep", keep=keep)
    # Nothing inside the log shows the cut: numbering is dense, every leaf recomputes...
    assert size(app) == keep
    result = ttp_audit(cli_env, "verify", "--checkpoint", str(saved))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"audit log broken: the log was cut: it has {keep} entries but the saved checkpoint of "
        f"{document['timestamp']} covers {covered}"
    )
    # ...and the checkpoints the service stored catch it too, even without the officer's file.
    outcome = verify(app)
    assert outcome.first_problem.seq == keep + 1
    assert outcome.first_problem.reason.startswith(f"the log was cut: it has {keep} entries but the signed checkpoint")


def test_a_rewrite_with_recomputed_hashes_is_caught_by_the_signed_checkpoints(api, app, officer, cli_env) -> None:
    fill(api, officer, 3)
    first = api.get("/v1/audit/checkpoint", headers=officer).json()
    fill(api, officer, 4)
    second = api.get("/v1/audit/checkpoint", headers=officer).json()
    drop_append_only(app.state.runtime.engine)
    target = first["size"] + 2
    entry = row(app, target)
    values = {k: v for k, v in entry.items() if k != "leaf_hash"}
    values["result"] = "success" if values["result"] != "success" else "denied"
    execute(app, update(ENTRIES).where(ENTRIES.c.seq == target).values(
        result=values["result"], leaf_hash=leaf_hash(canonical_bytes(values))))
    outcome = verify(app)
    assert outcome.first_problem.seq == first["size"] + 1
    assert outcome.first_problem.last_seq == second["size"]
    assert outcome.first_problem.reason.startswith(
        f"one of the entries {first['size'] + 1} to {second['size']} was changed, removed or reordered: "
        "the log does not match the signed checkpoint")
    assert ttp_audit(cli_env, "verify").exit_code == 1


def test_a_forged_stored_checkpoint_is_caught(api, app, officer) -> None:
    fill(api, officer, 2)
    api.get("/v1/audit/checkpoint", headers=officer)
    drop_append_only(app.state.runtime.engine)
    execute(app, "UPDATE audit_checkpoints SET size = size - 1")
    problem = verify(app).first_problem
    assert problem.seq is None
    assert "has an invalid signature: the checkpoint table was changed" in problem.reason


def test_a_changed_saved_checkpoint_is_refused(api, app, officer, cli_env, tmp_path) -> None:
    fill(api, officer, 2)
    saved = tmp_path / "checkpoint.json"
    document = api.get("/v1/audit/checkpoint", headers=officer).json()
    document["size"] -= 1
    saved.write_text(json.dumps(document))
    result = ttp_audit(cli_env, "verify", "--checkpoint", str(saved))
    assert result.exit_code == 1
    assert "the saved checkpoint" in result.stderr and "has an invalid signature" in result.stderr
    saved.write_text("{not json")
    unreadable = ttp_audit(cli_env, "verify", "--checkpoint", str(saved))
    assert unreadable.exit_code == 2
    assert "is not a JSON checkpoint" in unreadable.stderr


def test_entry_problems_come_before_a_cut(api, app, officer, cli_env, tmp_path) -> None:
    fill(api, officer, 5)
    saved = tmp_path / "checkpoint.json"
    assert ttp_audit(cli_env, "checkpoint", "-o", str(saved)).exit_code == 0
    drop_append_only(app.state.runtime.engine)
    execute(app, "UPDATE audit_entries SET action = 'nothing.happened' WHERE seq = 2")
    execute(app, "DELETE FROM audit_entries WHERE seq > 4")
    result = ttp_audit(cli_env, "verify", "--checkpoint", str(saved))
    assert result.stderr.strip() == "audit log broken: entry 2 was changed"


# ---- the checkpoint schedule and the tree cache -------------------------------------------------
def test_checkpoint_loop_signs_while_the_log_grows_and_survives_a_failure(api, app, officer, monkeypatch) -> None:
    runtime = app.state.runtime
    fill(api, officer, 2)
    real = checkpoint_store.scheduled_checkpoint
    calls = {"n": 0}

    def flaky(rt, *args):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database briefly unavailable")
        return real(rt, *args)

    monkeypatch.setattr(checkpoint_store, "scheduled_checkpoint", flaky)

    def stored() -> list[int]:
        with runtime.sessions() as session:
            return list(session.execute(select(AuditCheckpoint.size)).scalars())

    async def run() -> list[int]:
        async with checkpoint_store.scheduled_checkpoints(runtime, 0.02):
            while calls["n"] < 4:  # the job's own progress, not a deadline
                await asyncio.sleep(0.02)
        return stored()

    sizes = asyncio.run(run())
    assert calls["n"] >= 4
    assert sizes == [size(app)]  # one checkpoint: the log did not grow after it
    assert verify(app).checkpoints_checked == 1


def test_tree_cache_extends_and_rebuilds_when_the_log_changes_under_it(api, app, officer) -> None:
    runtime = app.state.runtime
    with runtime.sessions() as session:
        tree = checkpoint_store.current_tree(session)
    before = tree.size
    fill(api, officer, 3)
    with runtime.sessions() as session:
        again = checkpoint_store.current_tree(session)
        stored = [bytes(h) for h in session.execute(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq)).scalars()]
    assert again is tree and again.size == before + 3  # extended, not rebuilt
    assert again.root() == verify(app).root_hash
    drop_append_only(runtime.engine)
    execute(app, "UPDATE audit_entries SET leaf_hash = :h WHERE seq = :s", h=b"\x01" * 32, s=len(stored))
    with runtime.sessions() as session:
        rebuilt = checkpoint_store.current_tree(session)
    assert rebuilt is not tree and rebuilt.leaf(len(stored) - 1) == b"\x01" * 32


# ---- key and configuration events ---------------------------------------------------------------
def test_key_events_are_logged_with_ids_only(api, app) -> None:
    runtime = app.state.runtime
    with runtime.sessions() as session:
        entry = record_key_event(session, "keys.rotate", {"purpose": "kek", "key_id": "kek-2", "previous_key_id": "k1"},
                                 org_id="TTP")
        session.commit()
        assert (entry.action, entry.result, entry.resource) == ("keys.rotate", "success", "keys/kek")
        assert entry.leaf_hash == leaf_hash(canonical_bytes(entry_values(entry)))
        for action, detail in [("keys.rotate", {"key": "secret"}), ("keys.rotate", {"key_id": b"\x00" * 32}),
                               ("rotate", {"purpose": "kek"}), ("keys.rewrap", {"key_id": "x" * 500})]:
            with pytest.raises(AuditDetailError):
                record_key_event(session, action, detail)
    assert verify(app).ok


def test_start_detail_says_whether_the_configuration_changed(api, app) -> None:
    runtime = app.state.runtime
    with runtime.sessions() as session:
        same = start_detail(session, runtime.privacy.sha256)
        other = start_detail(session, "0" * 64)
    assert same == {"privacy_config_changed": False, "previous_sha256": runtime.privacy.sha256, "first_start": False}
    assert other == {"privacy_config_changed": True, "previous_sha256": runtime.privacy.sha256, "first_start": False}


def test_start_detail_on_the_first_start(app) -> None:
    with app.state.runtime.sessions() as session:
        assert start_detail(session, "a" * 64) == {
            "privacy_config_changed": False, "previous_sha256": None, "first_start": True}


def test_saved_checkpoint_file_path_errors(cli_env, tmp_path: Path) -> None:
    result = ttp_audit(cli_env, "verify", "--checkpoint", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
