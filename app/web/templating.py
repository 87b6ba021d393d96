"""The Jinja2 environment for the pages, and ``render``: a page as an HTML response.

Autoescaping is on for every template. Templates never carry inline script or style (the CSP
forbids both): charts colour themselves with SVG presentation attributes, and the pages style
themselves with ``static/theme.css`` and ``static/site.css``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"], default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context``; ``request`` and ``user`` (None when logged out) are always there."""
    context.setdefault("user", getattr(request.state, "web_user", None))
    body = environment.get_template(template).render(request=request, **context)
    return HTMLResponse(body, status_code=status_code)
