"""HTTP: liveness, readiness and Prometheus metrics (no authentication, no data)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from app import db
from app.crypto.keyring import KeyringError
from app.dependencies import RuntimeDep

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The database and the keys are reachable",
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        db.ping(runtime.engine)
        checks["database"] = "ok"
    except Exception:  # any failure means not ready
        checks["database"] = "unreachable"
    try:
        runtime.keyring.token_signing_key()
        checks["keys"] = "ok"
    except (KeyringError, OSError, ValueError):
        checks["keys"] = "unreadable"
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}},
)
def metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
