"""create_app(): the FastAPI service, its routers, middleware and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app import maintenance, operations, problems
from app.audit import router as audit_router
from app.auth import router as auth_router
from app.consents import router as consents_router
from app.middleware import RequestContextMiddleware
from app.observability import configure_logging
from app.openapi_document import add_component_schemas
from app.privacy import router as privacy_router
from app.records import gc_tuning
from app.records import router as records_router
from app.reports import release_router
from app.reports import router as reports_router
from app.runtime import Runtime
from app.settings import API_VERSION, Settings
from app.web import errors as web_errors
from app.web import home as web_home
from app.web import login as web_login
from app.web import privacy_pages as web_privacy
from app.web import provider_pages as web_provider
from app.web import report_pages as web_reports
from app.web.templating import STATIC

DESCRIPTION = """
Outcome TTP: a Trusted Third Party for the harmonised outcome indicators of Dutch youth care.
Providers send consent-backed, pseudonymised outcome records; municipalities, regions and
providers receive aggregated reports only. Errors are RFC 9457 problem details.
"""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None, *,
               publish_on_start: bool = False) -> FastAPI:
    """Build the service. Refuses (``StartupRefused``) on an unsafe configuration or keys.
    ``publish_on_start``: make the releases due a few seconds after start (``ttp serve``), not
    only at the release job's first interval. With ``TTP_RUN_JOBS=false`` the process serves
    requests only and a separate ``ttp worker`` runs the periodic jobs."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    runtime = runtime or Runtime.start(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.record_start()
        with gc_tuning.tuned():  # issue 14: the collector took half of ingestion's CPU time
            if settings.run_jobs:
                async with maintenance.scheduled_jobs(runtime, publish_on_start=publish_on_start):
                    yield
            else:
                yield
        runtime.close()

    app = FastAPI(
        title="Outcome TTP",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    problems.install(app)
    web_errors.install(app)  # HTML error pages on page paths (after problems: it wraps them)
    add_component_schemas(app, records_router.COMPONENT_SCHEMAS)
    app.add_middleware(RequestContextMiddleware, runtime=runtime)
    for router in (
        operations.router, auth_router.router, consents_router.router, records_router.router, reports_router.router,
        release_router.router, privacy_router.router,
        audit_router.router, web_home.router,
        web_login.router,
        web_reports.router,
        web_privacy.router,
        web_provider.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory app.main:app_factory`` (and ``ttp serve --workers N``)."""
    return create_app(publish_on_start=True)
