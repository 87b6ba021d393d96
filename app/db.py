"""Database engine, sessions and migrations.

SQLite (WAL) is the embedded default; PostgreSQL is the production database. The schema is made
by the alembic migrations under ``app/migrations/`` only, never by ``create_all``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

# Inside the package (package data), so that an installed wheel can run `ttp db upgrade`.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _private_sqlite_file(url: str) -> None:
    """Make the SQLite database file readable by its owner only (0600, in a 0700 folder when the
    folder is made here), like the keys: it holds pseudonyms and the audit log. SQLite gives its
    -wal and -shm files the database file's mode."""
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    database = Path(path)
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(database, 0o600)


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the pragmas and pool settings this service relies on. Its errors
    never carry the statement's values (``hide_parameters``): they hold pseudonyms and secret hashes."""
    if is_sqlite(url):
        _private_sqlite_file(url)
        # SQLite connections are cheap: enough for every thread of anyio's pool (40) to hold one,
        # so that a burst of readers waits on the database, never on the pool (a pool timeout is a 500).
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True,
                               pool_size=20, max_overflow=30)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged commit survives a crash or power loss, not just a process exit.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # A writer takes the write lock at the start of its transaction, so that concurrent
            # writers queue instead of failing on a lock upgrade. A reader (``read_only``) takes
            # none: under WAL it reads a snapshot beside the one writer and never waits for it.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        # Let SQLAlchemy not emit its own BEGIN; the listener above does.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
            dbapi_connection.isolation_level = None

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POSTGRES_POOL_SIZE, max_overflow=POSTGRES_MAX_OVERFLOW,
                         hide_parameters=True)


#: Connections per process on PostgreSQL (four API processes and a worker stay well below the
#: server's default ``max_connections`` of 100).
POSTGRES_POOL_SIZE, POSTGRES_MAX_OVERFLOW = 10, 10
#: Connections a process keeps beside its requests: the audit writer's, and two for a periodic job
#: that reads while it writes.
_SPARE_CONNECTIONS = 4


def requests_at_once(engine: Engine) -> int:
    """How many API requests and page views one process works on at once: no more than its pool
    has connections for (with a spare few), so that under load a request waits for its turn, which
    has no deadline, instead of holding a connection while it waits for a thread and making
    others time out waiting for the pool (a 503). SQLite's pool (50) is larger than anyio's 40
    threads, which bound it anyway."""
    if is_sqlite(engine.url.drivername):
        return 40
    return POSTGRES_POOL_SIZE + POSTGRES_MAX_OVERFLOW - _SPARE_CONNECTIONS


#: The execution option that marks a connection as a reader (see ``read_only``).
READ_ONLY = "ttp_read_only"


def read_only(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read: on SQLite they take no write
    lock (a deferred ``BEGIN``), on PostgreSQL the transaction is ``READ ONLY`` (a write fails)."""
    if is_sqlite(engine.url.drivername):
        return engine.execution_options(**{READ_ONLY: True})
    return engine.execution_options(**{READ_ONLY: True, "postgresql_readonly": True})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations to ``url`` (``ttp db upgrade``)."""
    if is_sqlite(url):
        _private_sqlite_file(url)
    command.upgrade(alembic_config(url), revision)


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
