"""Errors on pages: an HTML page in Dutch (``error.html`` in the frame), never problem+json.

:class:`PageError` is what page code raises (403 "Geen toegang", 404 "Niet gevonden" ...);
:class:`LoginRequired` sends a visitor who is not logged in to ``/inloggen?volgende=<path>``.
:func:`install` registers both and makes the framework's own errors (an unknown page, a wrong
method, invalid query parameters) HTML on page paths; API paths keep their problem+json.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.audit import log as audit_log
from app.web import is_page
from app.web.templating import render

TITLES = {
    400: "Ongeldige invoer", 403: "Geen toegang", 404: "Niet gevonden", 405: "Niet toegestaan",
    409: "Nog niet beschikbaar", 413: "Te groot", 429: "Te veel verzoeken", 503: "Even niet beschikbaar",
}


class PageError(Exception):
    """Answer the page request with an HTML error page with ``status`` and ``message`` (Dutch)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginRequired(Exception):
    """Not logged in (or the session timed out): to the login page, then back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def safe_next(value: str | None) -> str:
    """A local path to go to after login; anything else (another site, ``//evil``) becomes ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return "/"
    return value


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", status_code=status, title=TITLES.get(status, "Fout"), message=message)


def _write_denied(request: Request, status: int) -> None:
    context = request.state.audit
    session = request.app.state.runtime.sessions()
    try:
        audit_log.append(session, context.event(status, "denied"))
        session.commit()
        context.written = True
    finally:
        session.close()


Handler = Callable[[Request, Any], Awaitable[Response]]


def install(app: FastAPI) -> None:
    """Register the page error handlers (after :func:`app.problems.install`, whose handlers
    keep answering for every path that is not a page)."""

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        # A redirect is a 303, which the log would call a success: write the entry as denied.
        await run_in_threadpool(_write_denied, request, 303)
        target = "/inloggen"
        if exc.next_path and exc.next_path != "/":
            target += "?volgende=" + quote(safe_next(exc.next_path), safe="/")
        return RedirectResponse(target, status_code=303)

    problem_http = cast(Handler, app.exception_handlers[StarletteHTTPException])
    problem_invalid = cast(Handler, app.exception_handlers[RequestValidationError])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_page(request.url.path):
            return await problem_http(request, exc)
        messages = {404: "Deze pagina bestaat niet.", 405: "Deze pagina kan zo niet worden opgevraagd."}
        message = messages.get(exc.status_code, "Dit verzoek kan niet worden verwerkt.")
        return error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_page(request.url.path):
            return await problem_invalid(request, exc)
        fields = sorted({str(e.get("loc", ("", ""))[-1]) for e in exc.errors()})
        return error_page(request, 400, "De invoer klopt niet: " + ", ".join(fields) + ".")
