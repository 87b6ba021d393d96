"""The committed OpenAPI document (``openapi/openapi.json``) and how to regenerate it.

``python -m app.openapi_document`` (``make openapi``) writes the document the code generates; a test
fails when the committed one differs, so provider systems can trust the file in the repository.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.settings import REPO_ROOT, Settings

PATH = REPO_ROOT / "openapi" / "openapi.json"


def add_component_schemas(app: FastAPI, schemas: dict[str, Any]) -> None:
    """Put ``schemas`` into the app's OpenAPI document under ``components.schemas``: for request
    bodies that a route documents by hand (``openapi_extra``), whose models FastAPI does not see."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            known = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in schemas.items():
                if name in known and known[name] != schema:
                    raise ValueError(f"two different OpenAPI schemas are both named {name!r}")
                known[name] = schema
            document["components"]["schemas"] = dict(sorted(known.items()))
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    # Round-trip through JSON so that the comparison sees exactly what the file holds.
    return json.loads(json.dumps(app.openapi()))


def write() -> Path:
    from app.main import create_app

    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(Settings(data_dir=Path(scratch), database_url=f"sqlite:///{scratch}/x.sqlite3"))
        PATH.parent.mkdir(exist_ok=True)
        PATH.write_text(json.dumps(document(app), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return PATH


if __name__ == "__main__":
    print(f"wrote {write()}")
