"""``ttp records pending``: which of your records the published figures do not show yet.

Reads ``GET /v1/reports/providers/{agb}/pending`` with the provider's own client and prints one
line per municipality, quarter, framework and indicator: your records now, what the current
release counted, and when they may be shown. Light: httpx only, no server packages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from provider_tool.client import ClientError, Credentials, TtpClient, check_server_url

STATUS = {
    "not_yet_published": "not yet published",
    "waiting": "waiting (too few to publish safely, or newer than the release)",
    "final": "final: kept, not published",
}
COLUMNS = ("municipality", "period", "framework", "indicator", "records", "published", "changed", "status", "from")


def fetch(server: str, agb: str, credentials: Callable[[], Credentials],
          client: TtpClient | None = None) -> dict[str, Any]:
    """The pending view of provider ``agb`` (raises :class:`ClientError` with a clear message)."""
    ttp = client or TtpClient(check_server_url(server), credentials())
    try:
        response = ttp.get(f"/v1/reports/providers/{agb}/pending", params={}, what="the pending view")
    finally:
        if client is None:
            ttp.close()
    if response.status_code == 404:
        raise ClientError(f"no pending view for {agb}: is --agb your own AGB code (the one of your client)?")
    if response.status_code != 200:
        raise ClientError(f"the TTP answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def rows(body: dict[str, Any]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for line in body["lines"]:
        published = "" if line["published_records"] is None else str(line["published_records"])
        out.append((line["municipality"], line["period"], line["framework"], line["indicator"], str(line["records"]),
                    published, str(line["changed_at_least"]), STATUS.get(line["status"], line["status"]),
                    line["published_from"] or ""))
    return out


def render(body: dict[str, Any], *, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(body, indent=2, sort_keys=True) + "\n"
    lines = rows(body)
    if not lines:
        return f"Everything of provider {body['provider']} is in the published figures (as of {body['as_of']}).\n"
    table = [COLUMNS, *lines]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    text = "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table)
    return (f"{len(lines)} line(s) of provider {body['provider']} not (yet) in the published figures, as of "
            f"{body['as_of']} (3.2 and herhaald beroep are not in this list: they depend on other providers' "
            f"records):\n{text}\n")
