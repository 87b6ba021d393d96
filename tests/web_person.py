"""A person at the web pages in HTTP tests: log in through the forms (password, then TOTP) with a
TestClient of its own (its own cookie jar), read hidden fields and the visible text."""

from __future__ import annotations

import html
import re

import pyotp
from fastapi.testclient import TestClient

PASSWORD = "een lange zin als wachtwoord 2026"
START_PAGES = {"privacy_officer": "/privacy", "municipality": "/gemeente/{org_id}", "provider": "/aanbieder/{org_id}"}


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden field {name} on the page"
    return html.unescape(found.group(1))


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags out, whitespace folded, entities decoded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def login(client: TestClient, email: str, secret: str, *, expect: str) -> None:
    """Through the login form and the code form; the person lands on ``expect``."""
    form = client.get("/inloggen")
    assert form.status_code == 200
    sent = client.post("/inloggen", data={"email": email, "password": PASSWORD, "volgende": "/",
                                          "csrf_token": hidden(form.text, "csrf_token")}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    code_form = client.get(sent.headers["location"])
    assert code_form.status_code == 200
    done = client.post("/inloggen/code", data={"code": pyotp.TOTP(secret).now(), "volgende": "/",
                                               "csrf_token": hidden(code_form.text, "csrf_token")},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == expect
