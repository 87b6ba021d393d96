"""Init container of the API and worker pods: wait until the database schema is at this image's
migration head (the ttp-migrate Job applies it), so that a new version never serves on an old
schema. Exits 0 when it is, 1 after SCHEMA_WAIT_SECONDS (default 600) otherwise.
Prints no connection details (the URL holds the password): the error's type only."""

from __future__ import annotations

import os
import sys
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from app import db
from app.settings import Settings


def main() -> int:
    url = Settings().resolved_database_url
    heads = set(ScriptDirectory.from_config(db.alembic_config(url)).get_heads())
    deadline = time.monotonic() + float(os.environ.get("SCHEMA_WAIT_SECONDS", "600"))
    engine = create_engine(url)
    try:
        while True:
            try:
                with engine.connect() as connection:
                    current = set(MigrationContext.configure(connection).get_current_heads())
                state = f"at {', '.join(sorted(current)) or 'no migration'}"
            except Exception as exc:  # noqa: BLE001 - any failure: not yet, try again
                current, state = set(), f"unreachable ({type(exc).__name__})"
            if current == heads:
                print(f"wait-for-schema: the schema is at {', '.join(sorted(heads))}", file=sys.stderr)
                return 0
            if time.monotonic() >= deadline:
                print(f"wait-for-schema: the database is {state}, this image needs {', '.join(sorted(heads))}: "
                      "run the ttp-migrate Job (deploy/README.md)", file=sys.stderr)
                return 1
            time.sleep(5)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
