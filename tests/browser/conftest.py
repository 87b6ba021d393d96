"""The browser harness: real Chromium against a real uvicorn serving the app on a seeded store.

Fixtures (named in the web contract, so every page owner codes against the same ones):

- ``live_server`` (session): the base URL (``http://127.0.0.1:<port>``) of a real uvicorn serving
  ``create_app`` on a data directory of its own, with the seeded data below. ``live`` gives the
  same server as an object (``.url``, ``.app``, ``.runtime``) for a test that must look inside.
- ``accounts`` (session): role -> ``Account(email, password, totp_secret)`` (a named tuple).
- ``new_account`` (function): ``new_account(role)`` makes another account of that role's
  organisation (through the accounts service), so a test never needs a TOTP code twice.
- ``page`` (function): a Playwright ``Page`` in Debian's Chromium (``/usr/bin/chromium``,
  headless), in a new browser context per test; ``page.goto("/gemeente/GM0363")`` works (the
  context's base URL is the live server). A Content-Security-Policy violation on any page the
  test opened fails the test (the pages must work under the strict CSP).
- ``login_as(page, role)``: logs in through the form, password and then TOTP, as a NEW account of
  the role's organisation (fresh account, fresh TOTP secret: no replayed code, no lockout carried
  over from another test); returns once the browser is past the login (on the start page).
- ``page_as(role)``: a new page already logged in as the role (one login per role and run, its
  cookies reused): cheaper for a test that only looks; one that logs out must use ``login_as``.
- ``check_accessibility(page)``: axe-core (axe-playwright-python) with the WCAG 2.1 A and AA
  rules; fails listing every violation (rule, impact, help, the elements and why).
- ``screenshot(page, name)``: a full-page PNG to ``docs/screenshots/<name>.png`` (the test run
  makes them; ``TTP_SCREENSHOT_DIR`` writes them elsewhere).
- ``totp_code(secret)`` and ``fill_login(page, account, code=None)`` for tests of the login itself.

Roles (``ROLES``) and what the seeded store holds (the constants below, for paths and assertions):

- ``"gemeente"``: an analyst of Amsterdam (``MUNICIPALITY`` GM0363), a member of the region
  Amsterdam-Amstelland (``REGION`` = ``amsterdam-amstelland``), which agreed to regional reports
  in this store's privacy configuration (the example configuration with that one line changed);
  so the analyst reads both /gemeente/GM0363 and /regio/amsterdam-amstelland. The region's
  members with data are Amsterdam, Amstelveen and Ouder-Amstel (whose cells fall below the
  threshold, so the region's breakdown by municipality has withheld cells; protecting the region
  as one family also withholds some of Amsterdam's own quarters: that is how the service works);
- ``"andere_gemeente"``: an analyst of Amstelveen (``OTHER_MUNICIPALITY`` GM0362), same region;
- ``"aanbieder"``: Jeugdzorg Zeewind (``PROVIDER`` 98301012), jeugdhulp in all three;
  ``OTHER_PROVIDER`` (98301043) is another provider with records there;
- ``"gi"``: Jeugdbescherming en Jeugdreclassering Amstelpoort (``GI`` 98302027), JB/JR records;
- ``"privacy"``: the TTP's privacy officer.

The data is the demo population (``app.demo``, the generator ``make run`` uses, 3,000 records)
cut down to those three municipalities, with Groningen's youths moved to Amsterdam, and to
trajectories started since 1 January of last year (about 900 records, 830 in Amsterdam),
loaded through the same services the API calls (consent registry, batch ingestion); then a
retention run, the releases due today (``publish_due``) and a signed audit checkpoint. It is
built once per test run (with pytest-xdist: by the first worker, under a file lock, the others
copy it) in about 20-25 s of CPU, most of it the disclosure protection of the region's releases.

SQLite, not PostgreSQL: what these tests check is what a person sees in a browser; the page
endpoints are tested on both databases through the ASGI app (``tests/test_web_*.py``), and the
same store twice would double the setup for nothing the browser adds.

The server runs in a thread of the test process (``uvicorn.Server`` on a socket bound here, so no
port can be taken in between); it is waited on by ``/readyz``, never by a sleep. Its jobs are off
(``run_jobs=False``): everything they would do was done while seeding, and nothing changes the
store behind a test's back. Playwright's sync API runs in the main thread (the server's loop
lives in its own thread) and is started per test module, never left running for another
module's tests (it marks the main thread's event loop as running: ``asyncio.run`` would fail).

Without Chromium these tests are skipped, unless ``TTP_TEST_REQUIRE_CHROMIUM=1`` (``.ci/run``)
makes that an error. Every test under tests/browser is marked ``slow`` here (a seeded store and a
browser take a minute before the first test): ``make test-fast`` leaves them out, ``make test``
runs them.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pyotp
import pytest

from app.settings import EXAMPLE_PRIVACY_CONFIG, REPO_ROOT, Settings

CHROMIUM = Path(os.environ.get("TTP_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("TTP_SCREENSHOT_DIR") or REPO_ROOT / "docs" / "screenshots")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# ---- what the seeded store holds ------------------------------------------------------------------
MUNICIPALITY = "GM0363"  # Amsterdam, a member of the agreed region
OTHER_MUNICIPALITY = "GM0362"  # Amstelveen, the same region
SMALL_MUNICIPALITY = "GM0437"  # Ouder-Amstel, the same region: its cells fall below the threshold
REGION_NAME = "Amsterdam-Amstelland"  # agreed to regional reports in the seeded store's privacy configuration
REGION = "amsterdam-amstelland"  # the slug in /regio/{slug} and /v1/reports/regions/{id}
SEEDED_MUNICIPALITIES = (MUNICIPALITY, OTHER_MUNICIPALITY, SMALL_MUNICIPALITY)
PROVIDER = "98301012"  # Jeugdzorg Zeewind (jeugdhulp)
OTHER_PROVIDER = "98301043"  # Kinder- en Jeugdpsychiatrie De Waterlelie (jeugdhulp)
GI = "98302027"  # Jeugdbescherming en Jeugdreclassering Amstelpoort (JB/JR)
INDICATOR = "1"  # Uitval

#: role -> (org_type, org_id) of the accounts the harness makes.
#: role -> the local part of its accounts' addresses (the screenshots show them in the header).
MAILBOXES = {"gemeente": "analist.amsterdam", "andere_gemeente": "analist.amstelveen",
             "aanbieder": "kwaliteit.zeewind", "gi": "kwaliteit.amstelpoort", "privacy": "privacy.officer"}
ROLES: dict[str, tuple[str, str]] = {
    "gemeente": ("municipality", MUNICIPALITY),
    "andere_gemeente": ("municipality", OTHER_MUNICIPALITY),
    "aanbieder": ("provider", PROVIDER),
    "gi": ("provider", GI),
    "privacy": ("privacy_officer", "TTP"),
}

# Waits end on an event (ready, exited, a step of the TOTP clock); this ceiling only ends a hung run.
CEILING = 15 * 60


class Account(NamedTuple):
    email: str
    password: str
    totp_secret: str


# ---- every browser test is slow (a seeded store, a browser): `make test-fast` leaves them out -------
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.slow)


# ---- Chromium: there, or skipped (or failed in CI) -------------------------------------------------
def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if os.environ.get("TTP_TEST_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{message}, and TTP_TEST_REQUIRE_CHROMIUM=1")
    pytest.skip(message)


# ---- the seeded data directory ---------------------------------------------------------------------
def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, privacy_config=data_dir / "privacy.toml", log_level="WARNING",
                    run_jobs=False)


_made = itertools.count(1)


def create_account(runtime: Any, role: str, email: str | None = None) -> Account:
    """An account of the role's organisation, made through the accounts service (as `ttp users add`);
    without ``email`` a new address (``analist.amsterdam.3@example.org``: unique in the process,
    and each process has a store of its own)."""
    from app import db
    from app.accounts import service as accounts_service
    from app.accounts.keys import AccountKeys

    org_type, org_id = ROLES[role]
    with db.session_scope(runtime.sessions) as session:
        made = accounts_service.create_account(
            session, email=email or f"{MAILBOXES[role]}.{next(_made)}@example.org", org_type=org_type, org_id=org_id,
            ttp_id=runtime.settings.ttp_id, known_municipalities=runtime.codelists.municipalities,
            keys=AccountKeys.from_keyring(runtime.keyring),
        )
    assert made.password and made.totp_secret
    return Account(made.email, made.password, made.totp_secret)


def _seed(data_dir: Path) -> None:
    """Build the seeded store in ``data_dir`` (see the module docstring)."""
    from app import db
    from app.audit.checkpoint_store import scheduled_checkpoint
    from app.consents import registry
    from app.demo import generate
    from app.demo_seed import new_consent
    from app.maintenance import retention
    from app.records import ingestion
    from app.reports.releases import publish_due
    from app.runtime import Runtime
    from pseudonymisation import generate_key

    data_dir.mkdir(parents=True)
    config = EXAMPLE_PRIVACY_CONFIG.read_text(encoding="utf-8")
    agreed = config.replace('reporting_agreed = ["Friesland"]', f'reporting_agreed = ["{REGION_NAME}"]')
    assert agreed != config, "the example privacy configuration no longer agrees Friesland in one line"
    (data_dir / "privacy.toml").write_text(agreed, encoding="utf-8")
    settings = _settings(data_dir)
    db.upgrade(settings.resolved_database_url)
    runtime = Runtime.start(settings)
    try:
        today = datetime.now(UTC).date()
        since = f"{today.year - 1}-01-01"
        population = generate(3000, seed=2025, provider_key=generate_key("v1"), today=today)
        region_of = {m: region for region, members in runtime.codelists.regions.items() for m in members}

        def moved(municipality: str) -> str | None:
            """Where a demo youth lives here: the seeded municipalities stay, Groningen's youths
            move to Amsterdam (enough trajectories per provider for a funnel plot with points),
            the others are left out."""
            if municipality in SEEDED_MUNICIPALITIES:
                return municipality
            return MUNICIPALITY if region_of.get(municipality) == "Groningen" else None

        records = [r for r in population.records if moved(r.body["municipality"]) and r.body["start_date"] >= since]
        for record in records:
            record.body["municipality"] = moved(record.body["municipality"])
        used = {(r.provider, r.consent_ref) for r in records}
        consent_ids: dict[tuple[str, str], str] = {}
        with db.session_scope(runtime.sessions) as session:
            for consent in population.consents:
                key = (consent.provider, consent.body["consent_ref"])
                if key in used:
                    consent.body["municipalities"] = [moved(m) for m in consent.body["municipalities"]]
                    consent_ids[key] = registry.register(
                        session, provider_id=consent.provider, new=new_consent(consent.body),
                        pseudonymiser=runtime.pseudonymiser, configuration=runtime.privacy.configuration,
                        known_municipalities=runtime.codelists.municipalities, keys=runtime.records.vault,
                        today=today,
                    ).consent_id
        per_provider: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            per_provider.setdefault(record.provider, []).append(
                record.with_consent_id(consent_ids[(record.provider, record.consent_ref)]))
        for provider, items in per_provider.items():
            with db.session_scope(runtime.sessions) as session:
                result = ingestion.ingest_batch(session, runtime.records, provider_id=provider, items=items)
            assert result.accepted == len(items), (provider, result)
        assert {PROVIDER, OTHER_PROVIDER, GI} <= set(per_provider)
        retention(runtime, source="cli")
        made = publish_due(runtime.sessions, runtime.publisher, on=today)
        for family in (f"region:{REGION_NAME}",):
            releases = [m for m in made if m.family == family and m.framework == "jeugdhulp"]
            assert releases and all(m.release_id for m in releases), f"no release of {family} was published"
            assert any(f["withheld"] for m in releases for f in m.figures["indicators"].values()), \
                f"{family} has no suppressed cell"
        scheduled_checkpoint(runtime)
        accounts = {role: create_account(runtime, role, email=f"{MAILBOXES[role]}@example.org")._asdict()
                    for role in ROLES}
        (data_dir / "accounts.json").write_text(json.dumps(accounts), encoding="utf-8")
    finally:
        runtime.close()


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded data directory (read-only: each server copies it). Built once per run."""
    require_chromium()
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.getbasetemp() / "browser-store"
        if not (path / "accounts.json").exists():
            _seed(path)
        return path
    # pytest-xdist: the workers' base temps share a parent that belongs to this run only.
    root = tmp_path_factory.getbasetemp().parent
    path = root / "browser-store"
    with (root / "browser-store.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds; the others wait, then reuse
        try:
            if not (path / "accounts.json").exists():
                shutil.rmtree(path, ignore_errors=True)  # a worker that failed halfway
                _seed(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path


# ---- the live server -------------------------------------------------------------------------------
@dataclass
class LiveServer:
    url: str
    app: Any  # the FastAPI app
    settings: Settings

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime


@pytest.fixture(scope="session")
def live(seeded_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    from app.main import create_app
    from app.observability import UVICORN_OPTIONS

    data_dir = tmp_path_factory.mktemp("live") / "var"
    shutil.copytree(seeded_store, data_dir)
    settings = _settings(data_dir)
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **UVICORN_OPTIONS))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:  # until it answers ready, or the thread is gone
        if not thread.is_alive():
            raise AssertionError("the live server stopped before it was ready (see the captured log)")
        if server.started:
            try:
                if httpx.get(f"{url}/readyz", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        if time.monotonic() - started > CEILING:
            raise AssertionError(f"the live server was not ready in {CEILING} s")
        time.sleep(0.05)
    try:
        yield LiveServer(url=url, app=app, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


@pytest.fixture(scope="session")
def live_server(live: LiveServer) -> str:
    return live.url


@pytest.fixture(scope="session")
def accounts(live: LiveServer) -> dict[str, Account]:
    data = json.loads((live.settings.resolved_data_dir / "accounts.json").read_text(encoding="utf-8"))
    return {role: Account(**fields) for role, fields in data.items()}


@pytest.fixture
def new_account(live: LiveServer) -> Callable[[str], Account]:
    def make(role: str) -> Account:
        return create_account(live.runtime, role)

    return make


# ---- TOTP -------------------------------------------------------------------------------------------
_used_steps: dict[str, int] = {}


def totp_code(secret: str) -> str:
    """The current code for ``secret``, never one this process used before: when the current time
    step's code was used already, wait for the next step of pyotp's clock (the server may refuse
    a replayed code)."""
    totp = pyotp.TOTP(secret)
    while True:
        now = time.time()
        step = int(now // totp.interval)
        if step > _used_steps.get(secret, -1):
            _used_steps[secret] = step
            return totp.generate_otp(step)
        time.sleep((step + 1) * totp.interval - now + 0.01)


# ---- the browser -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, per test module: while Playwright's sync API is started, the main thread has a
    running event loop, so a later non-browser test on the same worker (pytest-xdist mixes modules)
    could not call ``asyncio.run``. Stopping it at the end of each module keeps the others clean."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def open_page(browser: Any, base_url: str, storage_state: dict[str, Any] | None = None) -> Iterator[Any]:
    """A page in a new browser context (with ``storage_state``: its cookies); fails when any page
    it showed broke the Content-Security-Policy (Chromium reports that on the console)."""
    context = browser.new_context(base_url=base_url, locale="nl-NL", viewport={"width": 1280, "height": 900},
                                  accept_downloads=True, storage_state=storage_state)
    opened = context.new_page()
    csp: list[str] = []
    opened.on("console", lambda message: csp.append(message.text)
              if message.type == "error" and "Content Security Policy" in message.text else None)
    try:
        yield opened
    finally:
        context.close()
    if csp:
        raise AssertionError("the page broke the Content-Security-Policy:\n" + "\n".join(csp))


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    with open_page(browser, live_server) as opened:
        yield opened


def fill_login(page: Any, account: Account, code: str | None = None) -> None:
    """The two login steps in the form: e-mail and password ("Verder"), then the TOTP code
    ("Inloggen"; the current one unless ``code`` is given). Does not wait past the code step."""
    page.goto("/inloggen")
    page.get_by_label("E-mailadres").fill(account.email)
    page.get_by_label("Wachtwoord").fill(account.password)
    page.get_by_role("button", name="Verder").click()
    page.wait_for_url(re.compile(r"/inloggen/code"))
    page.get_by_label("Code", exact=True).fill(code if code is not None else totp_code(account.totp_secret))
    page.get_by_role("button", name="Inloggen").click()


@pytest.fixture
def login_as(live: LiveServer) -> Callable[[Any, str], None]:
    """``login_as(page, role)``: through the form (password, then TOTP) as a new account of the
    role's organisation; returns once the browser is on a page past the login."""

    def login(page: Any, role: str) -> None:
        fill_login(page, create_account(live.runtime, role))
        page.wait_for_url(lambda url: "/inloggen" not in url)

    return login


@dataclass
class _Login:
    state: dict[str, Any]
    used: float


_logins: dict[str, _Login] = {}


@pytest.fixture
def page_as(browser: Any, live: LiveServer, accounts: dict[str, Account]) -> Iterator[Callable[[str], Any]]:
    """``page_as(role)``: a page in a new context that is already logged in as the role's account
    in ``accounts`` (one login through the form per role and run, its cookies reused; logged in
    again before the server's idle timeout could have ended it). Cheaper than ``login_as`` for a test that only looks; a
    test that logs out or changes its account must use ``login_as``."""
    from app.accounts.sessions import IDLE

    with ExitStack() as stack:
        def make(role: str) -> Any:
            login = _logins.get(role)
            if login is None or time.monotonic() - login.used > IDLE.total_seconds() / 2:
                with open_page(browser, live.url) as fresh:
                    fill_login(fresh, accounts[role])
                    fresh.wait_for_url(lambda url: "/inloggen" not in url)
                    login = _logins[role] = _Login(fresh.context.storage_state(), time.monotonic())
            login.used = time.monotonic()
            return stack.enter_context(open_page(browser, live.url, storage_state=login.state))

        yield make


# ---- accessibility and screenshots ------------------------------------------------------------------
def _violation_text(violation: dict[str, Any]) -> str:
    lines = [f"- {violation['id']} ({violation.get('impact') or 'impact unknown'}): {violation['help']}",
             f"  {violation.get('helpUrl', '')}"]
    for node in violation.get("nodes", [])[:10]:
        target = " ".join(str(part) for part in node.get("target", []))
        summary = " ".join((node.get("failureSummary") or "").split())
        lines.append(f"    at {target}: {summary}")
    if len(violation.get("nodes", [])) > 10:
        lines.append(f"    ... and {len(violation['nodes']) - 10} more elements")
    return "\n".join(lines)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    return list(Axe().run(page, options=options).response["violations"])


@pytest.fixture
def check_accessibility() -> Callable[[Any], None]:
    """``check_accessibility(page)``: 0 axe-core WCAG 2.1 A/AA violations on the page as shown now."""

    def check(page: Any) -> None:
        violations = axe_violations(page)
        if violations:
            raise AssertionError(f"{len(violations)} WCAG 2.1 A/AA violation(s) on {page.url}:\n"
                                 + "\n".join(_violation_text(v) for v in violations))

    return check


NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, name)``: the whole page as ``docs/screenshots/<name>.png``; returns the path."""

    def take(page: Any, name: str) -> Path:
        assert NAME.fullmatch(name), f"a screenshot name is lowercase letters, digits and dashes: {name!r}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
