"""Content negotiation shared by the routers that offer more than JSON (CSV, JSON lines, HTML)."""

from __future__ import annotations

from fastapi import Request


def preferred_media_type(request: Request, offered: list[str]) -> str:
    """The offered media type the Accept header prefers (highest q, then the order offered);
    the first offered when the header is missing or names none of them."""
    best, best_q = offered[0], -1.0
    header = request.headers.get("accept", "")
    for part in header.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        for candidate in offered:
            if media == candidate and q > best_q and q > 0:
                best, best_q = candidate, q
    return best
