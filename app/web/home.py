"""``/``: the front door. Logged out: to the login page; logged in: to the user's own start page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

router = APIRouter(include_in_schema=False)


@router.get("/", name="web.home")
def home(request: Request) -> RedirectResponse:
    user = getattr(request.state, "web_user", None)
    if user is None:
        return RedirectResponse("/inloggen", status_code=303)
    return RedirectResponse(user.start_page, status_code=303)
