"""Test fixtures: the service on SQLite and on a real PostgreSQL, through its real migrations.

Every test that takes ``app``/``api`` runs twice: once on SQLite, once on PostgreSQL. PostgreSQL
is ``TTP_TEST_POSTGRES_URL`` when set, else a throwaway cluster started here (tests/postgres.py).
Without either, the PostgreSQL runs are skipped, unless ``TTP_TEST_REQUIRE_POSTGRES=1`` (CI sets
it) makes that an error. ``TTP_TEST_BACKENDS=sqlite`` runs the SQLite half only (`make test-fast`).

No test may depend on the machine being idle: Hypothesis has no per-example deadline here.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import db
from app.accounts import passwords
from app.auth import clients
from app.crypto.keyring import Keyring
from app.main import create_app
from app.settings import EXAMPLE_PRIVACY_CONFIG, Settings
from tests.log_scan import pytest_runtest_makereport  # noqa: F401 - the log scan (issue 15)
from tests.postgres import Cluster, find_bin_dir

ALL_BACKENDS = ("sqlite", "postgresql")
BACKENDS = [name.strip() for name in (os.environ.get("TTP_TEST_BACKENDS") or ",".join(ALL_BACKENDS)).split(",")
            if name.strip()]
if not BACKENDS or not set(BACKENDS) <= set(ALL_BACKENDS):
    raise pytest.UsageError(f"TTP_TEST_BACKENDS: a comma-separated subset of {', '.join(ALL_BACKENDS)}")
if os.environ.get("TTP_TEST_REQUIRE_POSTGRES") == "1" and "postgresql" not in BACKENDS:
    raise pytest.UsageError("TTP_TEST_REQUIRE_POSTGRES=1 but TTP_TEST_BACKENDS leaves PostgreSQL out")

# A busy machine makes an example slow, not wrong: no deadline, and no health check on slow data
# generation. A test's own @settings still sets everything else (examples, derandomize, ...).
hypothesis_settings.register_profile(
    "ttp", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
hypothesis_settings.load_profile("ttp")


# ---- key derivation ----------------------------------------------------------------------------
# The production costs (scrypt 2^15 x 8 for client secrets, argon2id t=3 / 64 MiB / p=4 for
# passwords) are there to slow an attacker with a stolen table; in this suite they were the largest
# single cost (a token is a scrypt hash plus a scrypt check, a login an argon2 run: hundreds of
# milliseconds each on a busy machine, thousands of times). In-process tests therefore hash at the
# cheapest cost each scheme allows; what they check (which secret verifies, how many runs an
# unknown id costs, how many run at once) does not depend on the cost. The production parameters
# stay covered: ``production_kdf`` restores them for the tests that check them
# (tests/test_tokens.py, tests/test_accounts.py), and every ``ttp serve`` subprocess the suite
# starts runs them as shipped (the page tests' uvicorn runs in this process, so at the test cost).
_PRODUCTION_SCRYPT = (clients._SCRYPT_N, clients._SCRYPT_R, clients._SCRYPT_P, clients._DUMMY_HASH)
_PRODUCTION_ARGON2 = (passwords.HASHER, passwords.DUMMY_HASH)
_TEST_SCRYPT_N = 2**4
_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)


def _use_kdf(patch: pytest.MonkeyPatch, scrypt: tuple[int, int, int, str], argon2: tuple[PasswordHasher, str]) -> None:
    for name, value in zip(("_SCRYPT_N", "_SCRYPT_R", "_SCRYPT_P", "_DUMMY_HASH"), scrypt, strict=True):
        patch.setattr(clients, name, value)
    patch.setattr(passwords, "HASHER", argon2[0])
    patch.setattr(passwords, "DUMMY_HASH", argon2[1])


@pytest.fixture(scope="session", autouse=True)
def _cheap_kdf() -> Iterator[None]:
    n, r, p, dummy = _PRODUCTION_SCRYPT
    # The unknown-client dummy keeps its random salt and digest, at the test cost like every hash.
    cheap_dummy = "$".join(["scrypt", str(_TEST_SCRYPT_N), "1", "1", *dummy.split("$")[4:]])
    with pytest.MonkeyPatch.context() as patch:
        _use_kdf(patch, (_TEST_SCRYPT_N, 1, 1, cheap_dummy),
                 (_TEST_HASHER, _TEST_HASHER.hash(uuid.uuid4().hex)))
        yield


@pytest.fixture
def production_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped scrypt and argon2 costs, for a test that checks them."""
    _use_kdf(monkeypatch, _PRODUCTION_SCRYPT, _PRODUCTION_ARGON2)


# ---- PostgreSQL -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """A server URL (database ``postgres``) or None when no PostgreSQL can be had."""
    url = os.environ.get("TTP_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        yield None
        return
    cluster = Cluster(bin_dir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def _normalise(url: str) -> str:
    return Settings(database_url=url).resolved_database_url


def _admin_execute(server_url: str, *statements: str) -> None:
    engine = create_engine(_normalise(server_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def _with_database(server_url: str, name: str) -> str:
    return make_url(_normalise(server_url)).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str | None) -> str | None:
    """Name of a template database migrated once; each test copies it."""
    if postgres_server is None:
        return None
    name = f"ttp_template_{uuid.uuid4().hex[:8]}"
    _admin_execute(postgres_server, f"CREATE DATABASE {name}")
    db.upgrade(_with_database(postgres_server, name))
    return name


# ---- SQLite -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    db.upgrade(f"sqlite:///{path}")
    _fold_wal(path)
    return path


# ---- the database of one test -----------------------------------------------------------------
@dataclass
class _Seeded:
    template: str  # a SQLite file to copy, or a PostgreSQL database to use as a template
    value: object


#: Seeded stores, per worker process: (seed function, backend) -> its template and its value.
_SEEDED: dict[tuple[str, str], _Seeded] = {}


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
) -> Iterator[str]:
    """A fresh migrated database for one test; seeded (see :func:`seeded`) when the test asks for it."""
    backend = request.param
    seed = request.getfixturevalue("seed") if "seeded" in request.fixturenames else None
    key = _seed_key(seed, backend) if seed else None
    cached = _SEEDED.get(key) if key else None
    if backend == "sqlite":
        path = tmp_path / "ttp.sqlite3"
        shutil.copyfile(cached.template if cached else sqlite_template, path)
        url = f"sqlite:///{path}"
        if key and not cached:
            value = _load_seed(url, seed, tmp_path, request)
            _fold_wal(path)
            template = tmp_path.parent / f"seeded-{uuid.uuid4().hex[:8]}.sqlite3"
            shutil.copyfile(path, template)
            _SEEDED[key] = _Seeded(str(template), value)
        yield url
        return
    server = request.getfixturevalue("postgres_server")
    base = request.getfixturevalue("postgres_template")
    if server is None:
        if os.environ.get("TTP_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (TTP_TEST_REQUIRE_POSTGRES=1) but none was found")
        pytest.skip("no PostgreSQL server binary and no TTP_TEST_POSTGRES_URL")
    name = f"ttp_test_{uuid.uuid4().hex[:12]}"
    _admin_execute(server, f"CREATE DATABASE {name} TEMPLATE {cached.template if cached else base} "
                           "STRATEGY FILE_COPY")
    url = _with_database(server, name)
    if key and not cached:
        value = _load_seed(url, seed, tmp_path, request)
        template = f"ttp_seeded_{uuid.uuid4().hex[:12]}"
        _admin_execute(server, f"CREATE DATABASE {template} TEMPLATE {name} STRATEGY FILE_COPY")
        _SEEDED[key] = _Seeded(template, value)
    yield url
    _admin_execute(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _fold_wal(path: Path) -> None:
    """Fold the WAL into the main file so that a plain file copy is a complete database."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()


def _load_seed(url: str, seed: Callable[..., object], tmp_path: Path, request: pytest.FixtureRequest) -> object:
    """Run ``seed(api, token_for, publish)`` against a service of its own on ``url``, then stop that
    service so that nothing holds the database while it is copied."""
    keys = tmp_path / "seed-keys"
    shutil.copytree(request.getfixturevalue("development_keys"), keys)
    seeding = create_app(settings_for(tmp_path / "seeding", url, keys))
    try:
        with TestClient(seeding, base_url="https://testserver") as api:
            value = seed(api, token_getter(api, client_maker(seeding)), publisher(seeding))
    finally:
        seeding.state.runtime.engine.dispose()
    shutil.rmtree(keys)
    return value


def _seed_key(seed: Callable[..., object], backend: str) -> tuple[str, str]:
    return f"{seed.__module__}.{seed.__qualname__}", backend


@pytest.fixture
def seeded(database_url: str, seed: Callable[..., object]) -> object:
    """The value of the module's ``seed`` fixture (a function ``seed(api, token_for, publish)``),
    whose store this test starts from. The seed runs once per worker and backend; every later test
    gets a copy of the database it left (a SQLite file copy, a PostgreSQL template), so a module of
    tests over one data set pays for loading and publishing it once, not per test."""
    return _SEEDED[_seed_key(seed, "sqlite" if database_url.startswith("sqlite") else "postgresql")].value


@pytest.fixture(scope="session")
def development_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys-template") / "keys"
    Keyring.create(directory, origin="development")
    return directory


@pytest.fixture
def key_dir(tmp_path: Path, development_keys: Path) -> Path:
    target = tmp_path / "keys"
    shutil.copytree(development_keys, target)  # copies modes too (0600 files, 0700 folders)
    return target


def settings_for(data_dir: Path, database_url: str, key_dir: Path) -> Settings:
    """A test app's settings: no periodic jobs in the app (``run_jobs=False``), as behind a separate
    ``ttp worker``. A job in the app fires on the clock's period marks (releases every ten minutes),
    which a test that happens to straddle one sees as a change it did not make; tests of the jobs
    run them by hand or start processes with them on."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        key_dir=key_dir,
        privacy_config=EXAMPLE_PRIVACY_CONFIG,
        log_level="WARNING",
        run_jobs=False,
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, key_dir: Path) -> Settings:
    return settings_for(tmp_path, database_url, key_dir)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def api(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """HTTP through the real ASGI app (httpx transport), with the app's lifespan running."""
    with TestClient(app, base_url="https://testserver") as client:
        yield client


# ---- clients and tokens -----------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str

    def basic(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def client_maker(app) -> Callable[..., Credentials]:  # type: ignore[no-untyped-def]
    """Register a client straight in the database (as `ttp clients add` does)."""
    runtime = app.state.runtime

    def make(org_type: str, org_id: str, scopes: list[str] | None = None) -> Credentials:
        with db.session_scope(runtime.sessions) as session:
            made = clients.create_client(
                session, name=f"test {org_type} {org_id}", org_type=org_type, org_id=org_id, scopes=scopes,
                ttp_id=runtime.settings.ttp_id, known_municipalities=runtime.codelists.municipalities,
            )
        assert made.client_secret
        return Credentials(made.client_id, made.client_secret)

    return make


def token_getter(api: TestClient, make_client: Callable[..., Credentials]) -> Callable[..., dict[str, str]]:
    """Authorization headers for a new client of the given organisation."""

    def get(org_type: str, org_id: str, scopes: list[str] | None = None) -> dict[str, str]:
        credentials = make_client(org_type, org_id, scopes)
        response = api.post("/v1/oauth/token", data={"grant_type": "client_credentials"},
                            headers=credentials.basic())
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return get


def publisher(app):  # type: ignore[no-untyped-def]
    """Make the releases due on ``on`` (default today), as the release job does."""
    from datetime import date

    from app import jobs
    from app.reports.releases import publish_due

    def run(on: date | None = None, *, over_time: bool = True):
        # Under the releases lease, as `ttp releases publish` does: the app's own release job (every
        # ten minutes on the clock) must not publish beside the test's publication in the middle of
        # a before/after comparison. A holder of its own, so the app's job is another holder.
        runtime = app.state.runtime
        holder = f"test-publisher:{uuid.uuid4().hex[:8]}"
        while True:
            ran, made = jobs.run_once(runtime.sessions, "releases", lambda: publish_due(
                runtime.sessions, runtime.publisher, on=on or date.today(), over_time=over_time), holder=holder)
            if ran:
                return made
            time.sleep(0.1)  # the app's release job holds the lease: wait for it to finish

    return run


@pytest.fixture
def make_client(app) -> Callable[..., Credentials]:  # type: ignore[no-untyped-def]
    return client_maker(app)


@pytest.fixture
def token_for(api: TestClient, make_client: Callable[..., Credentials]) -> Callable[..., dict[str, str]]:
    return token_getter(api, make_client)


# ---- releases --------------------------------------------------------------------------------
@pytest.fixture
def publish(app):  # type: ignore[no-untyped-def]
    return publisher(app)


# ---- people at the web pages ----------------------------------------------------------------------
@pytest.fixture
def person(app, api) -> Callable[[str, str], TestClient]:  # type: ignore[no-untyped-def]
    """A browser (its own cookie jar) logged in, password then TOTP, as a new account of the given
    organisation; it lands on that organisation's start page."""
    from app.accounts import service
    from app.web.deps import account_keys
    from tests.web_person import PASSWORD, START_PAGES, login

    runtime = app.state.runtime
    made: list[TestClient] = []

    def make(org_type: str, org_id: str) -> TestClient:
        with db.session_scope(runtime.sessions) as session:
            account = service.create_account(
                session, email=f"{org_type}.{org_id}.{len(made)}@example.nl", org_type=org_type, org_id=org_id,
                ttp_id=runtime.settings.ttp_id, known_municipalities=runtime.codelists.municipalities,
                keys=account_keys(runtime), password=PASSWORD)
        assert account.totp_secret
        client = TestClient(app, base_url="https://testserver")
        login(client, account.email, account.totp_secret, expect=START_PAGES[org_type].format(org_id=org_id))
        made.append(client)
        return client

    return make


# ---- the order: the longest tests start first, half on each worker ---------------------------------
#: The longest tests (on this 2-core machine: 20 to 60 s each, against well under a second for most),
#: longest first. `make test` runs with `--dist worksteal`, which gives each of the two workers half
#: of the collection in order and lets an idle one take from the other's tail: these are put at the
#: head of each half, alternately, so that both workers start with them and neither ends the run
#: alone with one of them.
LONGEST_FIRST = (
    "tests/test_submit.py::test_a_real_submission_killed_halfway",
    "tests/test_crash_safety.py::",
    "tests/test_schemathesis.py::",
    "tests/test_cli_service.py::test_serve_then",
    "tests/test_scheduled_jobs.py::",
    "tests/test_submit.py::test_the_light_install",
    "tests/test_cli_service.py::test_commands_on_a_database_without_the_schema",
    "tests/test_reports_api.py::test_a_region_member_cannot_narrow",
    "tests/test_releases.py::test_two_workers",
    "tests/test_disclosure.py::test_properties_over_random_families",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
                    len(LONGEST_FIRST))

    longest = sorted((item for item in items if rank(item) < len(LONGEST_FIRST)), key=rank)
    rest = [item for item in items if rank(item) == len(LONGEST_FIRST)]
    first, second = longest[0::2], longest[1::2]
    middle = max(len(items) // 2 - len(first), 0)
    items[:] = first + rest[:middle] + second + rest[middle:]
