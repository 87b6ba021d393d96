"""Who may read reports and write notes, as types an endpoint takes (see :mod:`app.auth.principal`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.clients import OrgType
from app.auth.principal import Principal, for_organisation, requires

#: A municipality's token with ``reports:read``, for its own report (``{code}``; 404 for another's).
MunicipalityReportReader = Annotated[
    Principal, Depends(for_organisation("reports:read", OrgType.municipality, "code"))]
#: A municipality's token with ``reports:read``; the endpoint checks the region is its own.
RegionReportReader = Annotated[Principal, Depends(requires("reports:read", OrgType.municipality))]
#: A provider's token with ``reports:read``, for its own mirror report (``{agb}``; 404 for another's).
ProviderReportReader = Annotated[Principal, Depends(for_organisation("reports:read", OrgType.provider, "agb"))]
#: A provider's token with ``notes:write``.
NotesWriter = Annotated[Principal, Depends(requires("notes:write", OrgType.provider))]
