"""axe-core on every page, in Chromium: 0 WCAG 2.1 A/AA violations; a screenshot of each.

"Every page" is read from the app: every GET route outside the OpenAPI document
(``include_in_schema=False``) under the page prefixes (``app.web.PAGE_PREFIXES``). A new page is
covered without touching this file, visited as the role that may see it, with the seeded ids for
its path parameters. A page with a path parameter or a prefix this file does not know fails the
collection check below, naming what to add here.

Each page is also checked for what axe leaves to best practice but the page rules require:
``lang="nl"`` and exactly one ``h1``. The screenshots go to ``docs/screenshots/<name>.png``,
named after the route (``gemeente-uitsplitsing-naar-provider.png``).
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from tests.browser.conftest import GI, INDICATOR, MUNICIPALITY, PROVIDER, REGION, fill_login, totp_code

#: Page routes that are not visited, and why.
NOT_VISITED = {
    "/": "only redirects (to the login or the user's start page)",
    "/inloggen/oidc/{name}": "no OIDC identity provider is configured in the tests (test_web_login covers it)",
    "/inloggen/oidc/{name}/terug": "no OIDC identity provider is configured in the tests",
}
#: Pages seen before logging in (the code step after a correct password).
ANONYMOUS = ("/inloggen", "/inloggen/code")
#: Who may see pages under each prefix (the first match wins).
ROLES_BY_PREFIX = (
    ("/aanbieder/{agb}/context", ("gi",)),  # JB/JR process context: a certified institution's page
    ("/account", ("gemeente",)),
    ("/gemeente", ("gemeente",)),
    ("/regio", ("gemeente",)),  # Amsterdam is a member of the agreed region
    ("/aanbieder", ("aanbieder",)),
    ("/privacy", ("privacy",)),
)
#: The seeded value of each path parameter (per role where it differs).
PATH_VALUES: dict[str, Any] = {
    "code": MUNICIPALITY,
    "slug": REGION,
    "indicator": INDICATOR,
    "agb": lambda role: GI if role == "gi" else PROVIDER,
}
#: Further views of one route worth their own check and screenshot (the default view is always visited).
VARIANTS = {
    "/gemeente/{code}/uitsplitsing": ("naar=age_band",),
    "/regio/{slug}/uitsplitsing": ("naar=municipality",),
    "/aanbieder/{agb}/uitsplitsing": ("naar=hulpvorm",),
}


def page_routes() -> list[str]:
    """The path of every GET page route of the app (built without a database: routes only)."""
    from fastapi.routing import iter_route_contexts

    from app.main import create_app
    from app.settings import Settings
    from app.web import is_page

    app = create_app(Settings(log_level="WARNING"), runtime=SimpleNamespace())
    found = []
    for route in iter_route_contexts(app.routes):
        path, methods = getattr(route, "path", None), getattr(route, "methods", None) or set()
        if path and "GET" in methods and not getattr(route, "include_in_schema", True) and is_page(path):
            found.append(path)
    return sorted(set(found))


def roles_for(path: str) -> tuple[str, ...]:
    if path in ANONYMOUS:
        return ("anoniem",)
    for prefix, roles in ROLES_BY_PREFIX:
        if path == prefix or path.startswith(prefix + "/"):
            return roles
    raise LookupError(f"no role for the page {path}: add its prefix to ROLES_BY_PREFIX in {__file__}")


def concrete(path: str, role: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PATH_VALUES:
            raise LookupError(f"no seeded value for {{{name}}} in {path}: add it to PATH_VALUES in {__file__}")
        found = PATH_VALUES[name]
        return str(found(role) if callable(found) else found)

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def screenshot_name(path: str, query: str) -> str:
    parts = [part for part in path.strip("/").split("/") if part and not part.startswith("{")]
    name = "-".join([*parts, *re.split(r"[=&]", query)] if query else parts) or "start"
    return re.sub(r"[^a-z0-9-]+", "-", name.lower().replace("_", "-")).strip("-")


def cases() -> list[Any]:
    out = []
    for path in page_routes():
        if path in NOT_VISITED:
            continue
        for role in roles_for(path):
            for query in ("", *VARIANTS.get(path, ())):
                out.append(pytest.param(role, path, query, id=f"{role}:{path}{'?' + query if query else ''}"))
    return out


def test_every_page_route_has_a_role_and_its_parameters_have_seeded_values() -> None:
    paths = page_routes()
    assert "/inloggen" in paths and "/gemeente/{code}" in paths and "/privacy" in paths
    for path in paths:
        if path not in NOT_VISITED:
            for role in roles_for(path):
                assert "{" not in concrete(path, role)
    assert screenshot_name("/gemeente/{code}/uitsplitsing", "naar=age_band") == "gemeente-uitsplitsing-naar-age-band"
    assert screenshot_name("/regio/{slug}", "") == "regio"


def page_problems(page: Any, check_accessibility: Any) -> list[str]:
    """What is wrong with the page shown now: axe's violations, the language, the number of h1."""
    problems = []
    lang = page.evaluate("document.documentElement.lang")
    if lang != "nl":
        problems.append(f'<html lang="{lang}">, not "nl"')
    headings = page.locator("h1").count()
    if headings != 1:
        problems.append(f"{headings} h1 elements, not exactly one")
    try:
        check_accessibility(page)
    except AssertionError as exc:
        problems.append(str(exc))
    return problems


def open_checked(page: Any, url: str) -> list[str]:
    response = page.goto(url)
    problems = []
    if response is None or response.status != 200:
        problems.append(f"GET {url} answered {response.status if response else 'nothing'}, not 200")
    shown = page.url.split("://", 1)[-1].split("/", 1)[-1]
    if "/" + shown != url:
        problems.append(f"GET {url} ended on /{shown}")
    return problems


@pytest.mark.parametrize(("role", "path", "query"), cases())
def test_the_page_has_no_wcag_violations(role: str, path: str, query: str, page, page_as, new_account,
                                         check_accessibility, screenshot) -> None:
    url = concrete(path, role) + (f"?{query}" if query else "")
    if role == "anoniem":
        shown = page
        if path == "/inloggen/code":  # reached by a correct password
            account = new_account("gemeente")
            shown.goto("/inloggen")
            shown.get_by_label("E-mailadres").fill(account.email)
            shown.get_by_label("Wachtwoord").fill(account.password)
            shown.get_by_role("button", name="Verder").click()
            shown.wait_for_url(re.compile(r"/inloggen/code"))
            problems = []
        else:
            problems = open_checked(shown, url)
    else:
        shown = page_as(role)
        problems = open_checked(shown, url)
    problems += page_problems(shown, check_accessibility)
    screenshot(shown, screenshot_name(path, query))
    assert not problems, f"{url} as {role}:\n" + "\n".join(problems)


def test_the_error_states_of_the_login_have_no_wcag_violations(page, new_account, check_accessibility,
                                                               screenshot) -> None:
    account = new_account("gemeente")
    fill_login(page, account, code="000000" if totp_code(account.totp_secret) != "000000" else "111111")
    page.get_by_role("alert").wait_for()
    problems = page_problems(page, check_accessibility)
    screenshot(page, "inloggen-code-fout")
    assert not problems, "\n".join(problems)
