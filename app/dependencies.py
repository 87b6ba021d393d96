"""FastAPI dependencies shared by the routers: the runtime and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


#: The service's runtime: settings, keys, codelists, the database engine and the stores.
RuntimeDep = Annotated[Runtime, Depends(runtime)]


def session(request: Request) -> Iterator[Session]:
    """A session per request; endpoints commit explicitly (with their audit entry), the rest rolls back."""
    db = request.app.state.runtime.sessions()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


#: A request's database session, closed when the endpoint returns (before the response is sent,
#: so the middleware's audit write never waits for it).
DbSession = Annotated[Session, Depends(session, scope="function")]


def read_session(request: Request) -> Iterator[Session]:
    """A read-only session per request (see ``Runtime.read_sessions``): for endpoints that only read."""
    db = request.app.state.runtime.read_sessions()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


#: A request's read-only database session: on SQLite it takes no write lock, so report readers
#: never queue behind ingestion; on PostgreSQL the transaction is READ ONLY.
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
