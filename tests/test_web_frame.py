"""The web frame: the front door, the vendored stylesheet, and page views in the audit log."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_front_door_sends_a_stranger_to_login_and_serves_the_styles(api: TestClient) -> None:
    answer = api.get("/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/inloggen"
    css = api.get("/static/vendor/utrecht/component-library.css")
    assert css.status_code == 200
    assert ".utrecht-button" in css.text
    assert api.get("/static/../settings.py").status_code == 404
