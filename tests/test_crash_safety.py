"""Crash safety (issue 14): SIGKILL in the middle of concurrent ingestion, several times over.

A real `ttp serve` (on PostgreSQL with two uvicorn workers; SQLite serves with one, as the CLI
requires) takes record batches from four clients at once. Each round kills the whole process
group with SIGKILL once a few more batches were acknowledged, and starts it again. Afterwards:

- every batch that got a 200 is stored, record for record;
- a batch without a 200 (the connection died, or it was never answered) is stored whole or not
  at all, never in part;
- `ttp verify` (decrypt every record, recompute the aggregate store) and `ttp audit verify` are clean.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from app import demo
from app.models import OutcomeRecord
from pseudonymisation import PseudonymKey
from tests.test_cli_service import CEILING, TTP, free_port

ROUNDS = 3  # kills
CLIENTS = 4
BATCH = 8
PROVIDER_KEY = PseudonymKey(key_id="v1", secret=b"crash-test-provider-key-32bytes!")


@dataclass
class Batch:
    provider: str
    record_ids: list[str]
    body: bytes
    outcome: str = "unsent"  # "acknowledged" (200), "unknown" (sent, no 200), "refused" (a 4xx)


def _environment(settings, database_url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update(TTP_ENV="development", TTP_DATA_DIR=str(settings.data_dir), TTP_DATABASE_URL=database_url,
               TTP_KEY_DIR=str(settings.key_dir), TTP_PRIVACY_CONFIG=str(settings.privacy_config),
               TTP_LOG_LEVEL="WARNING", TTP_RUN_JOBS="false")
    return env


def _serve(env: dict[str, str], workers: int, logs: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`ttp serve` in its own process group (so SIGKILL reaches uvicorn's workers too), once ready."""
    port = free_port()
    extra = ["--workers", str(workers)] if workers > 1 else []
    with (logs / f"serve-{port}.err").open("wb") as err:
        process = subprocess.Popen([*TTP, "serve", "--port", str(port), *extra], env=env,
                                   stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    while process.poll() is None:  # ready, or exited: no deadline
        try:
            if httpx.get(f"{base}/readyz", timeout=CEILING).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        threading.Event().wait(0.2)
    raise AssertionError(f"ttp serve exited with {process.returncode}: {(logs / f'serve-{port}.err').read_text()}")


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the parent and every worker, no handler runs
    process.wait()


def _tokens(base: str, credentials: dict[str, tuple[str, str]]) -> dict[str, str]:
    tokens = {}
    for agb, pair in credentials.items():
        answer = httpx.post(f"{base}/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=pair,
                            timeout=CEILING)
        assert answer.status_code == 200, answer.text
        tokens[agb] = answer.json()["access_token"]
    return tokens


def _send(base: str, tokens: dict[str, str], queue: list[Batch], lock: threading.Lock, stop: threading.Event,
          acknowledged: list[Batch]) -> None:
    with httpx.Client(base_url=base, timeout=CEILING) as client:
        while not stop.is_set():
            with lock:
                batch = next((b for b in queue if b.outcome == "unsent"), None)
                if batch is None:
                    return
                batch.outcome = "unknown"  # from here on it may or may not have reached the server
            try:
                answer = client.post("/v1/records/batches", content=batch.body, headers={
                    "Authorization": f"Bearer {tokens[batch.provider]}", "Content-Type": "application/json"})
            except httpx.TransportError:
                return  # the server died under us
            if answer.status_code == 200:
                with lock:
                    batch.outcome = "acknowledged"
                    acknowledged.append(batch)
            elif 400 <= answer.status_code < 500 and answer.status_code != 429:
                batch.outcome = "refused"  # a good batch must never be; asserted at the end


@pytest.mark.slow
def test_sigkill_during_concurrent_ingestion_loses_nothing_acknowledged_and_half_stores_nothing(
        settings, database_url, make_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = _environment(settings, database_url)
    workers = 1 if database_url.startswith("sqlite") else 2
    population = demo.generate(200, seed=14, provider_key=PROVIDER_KEY, today=date.today())
    credentials = {p.agb: make_client("provider", p.agb) for p in population.providers}
    pairs = {agb: (c.client_id, c.client_secret) for agb, c in credentials.items()}

    server, base = _serve(env, workers, tmp_path)
    tokens = _tokens(base, pairs)
    consent_ids: dict[tuple[str, str], str] = {}
    with httpx.Client(base_url=base, timeout=CEILING) as client:
        for item in population.consents:  # set-up, before any kill
            answer = client.post("/v1/consents", json=item.body,
                                 headers={"Authorization": f"Bearer {tokens[item.provider]}"})
            assert answer.status_code == 201, answer.text
            consent_ids[(item.provider, item.body["consent_ref"])] = answer.json()["consent_id"]
    queue = [Batch(group[0].provider, [r.body["record_id"] for r in group], json.dumps(
        {"records": [r.with_consent_id(consent_ids[(r.provider, r.consent_ref)]) for r in group]}).encode())
        for group in demo.batches(population.records, size=BATCH)]

    lock = threading.Lock()
    acknowledged: list[Batch] = []
    for round_ in range(ROUNDS + 1):
        if round_:
            server, base = _serve(env, workers, tmp_path)
            tokens = _tokens(base, pairs)
        stop = threading.Event()
        threads = [threading.Thread(target=_send, args=(base, tokens, queue, lock, stop, acknowledged))
                   for _ in range(CLIENTS)]
        before = len(acknowledged)
        for thread in threads:
            thread.start()
        if round_ < ROUNDS:
            # Kill once this round has a few acknowledgements, while the clients keep sending.
            while len(acknowledged) < before + 3 and any(t.is_alive() for t in threads):
                threading.Event().wait(0.01)
            _kill(server)
            stop.set()
            for thread in threads:
                thread.join()
        else:
            for thread in threads:
                thread.join()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=CEILING)

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = set(connection.execute(select(OutcomeRecord.provider_id, OutcomeRecord.record_id)).all())
    finally:
        engine.dispose()
    for batch in queue:
        present = sum((batch.provider, record_id) in stored for record_id in batch.record_ids)
        if batch.outcome == "acknowledged":
            assert present == len(batch.record_ids), "an acknowledged batch lost records"
        else:
            assert present in (0, len(batch.record_ids)), "a batch without a 200 is half-stored"
    assert len(acknowledged) >= 3 * ROUNDS
    assert "refused" not in {b.outcome for b in queue}

    verified = subprocess.run([*TTP, "verify"], env=env, capture_output=True, text=True, timeout=CEILING)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    audit = subprocess.run([*TTP, "audit", "verify"], env=env, capture_output=True, text=True, timeout=CEILING)
    assert audit.returncode == 0, audit.stdout + audit.stderr
