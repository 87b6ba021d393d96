"""The web pages: server-rendered HTML in Dutch over the same services the API uses.

Layout:
- ``templating.py``: the Jinja2 environment and ``render``;
- ``templates/``: the pages (``base.html`` is the frame every page extends);
- ``static/``: the vendored NL Design System component CSS and our own theme;
- the page routers, one per user (analyst, provider, privacy officer) and one for login.

Every page URL that is not under ``/static/`` is audited like an API request (see
``PAGE_PREFIXES`` and :mod:`app.middleware`).
"""

from __future__ import annotations

#: Paths (besides ``/``) that serve pages: each request to one is an audit entry.
PAGE_PREFIXES = ("/inloggen", "/uitloggen", "/account", "/gemeente", "/regio", "/aanbieder", "/privacy")


def is_page(path: str) -> bool:
    return path == "/" or path.startswith(PAGE_PREFIXES)
