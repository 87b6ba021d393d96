"""The schema has one home: the tables in ``app.models`` are exactly what the migrations make.

Alembic compares ``app.models.Base.metadata`` (what ``migrations/env.py`` reads) with a database
freshly migrated to head, on SQLite and on PostgreSQL. A model that gains a column, index or table
without a migration (or a migration that makes something no model declares) fails here, with the
differences alembic would autogenerate.
"""

from __future__ import annotations

from pprint import pformat

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

import app.main  # noqa: F401 - import the whole service, so that every mapped class is registered
from app.models import Base


def test_every_table_is_declared_in_app_models() -> None:
    """A table declared elsewhere is invisible to ``migrations/env.py`` (and to autogenerate)."""
    elsewhere = sorted(
        f"{mapper.class_.__module__}.{mapper.class_.__qualname__}"
        for mapper in Base.registry.mappers
        if mapper.class_.__module__ != "app.models"
    )
    assert elsewhere == [], "declare these tables in app/models.py"


def test_the_migrations_make_exactly_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], (
        "app/models.py and migrations/ disagree; add a migration (alembic would generate):\n"
        + pformat(differences)
    )
