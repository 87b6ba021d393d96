"""``/``: the front door. Logged out: to the login page; logged in: to the user's own start page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from app.web.deps import OptionalUser

router = APIRouter(include_in_schema=False)


@router.get("/", name="web.home")
def home(request: Request, user: OptionalUser) -> RedirectResponse:
    if user is None:
        return RedirectResponse("/inloggen", status_code=303)
    return RedirectResponse(user.start_page, status_code=303)
