"""Who may read the audit log, as types an endpoint takes (see :mod:`app.auth.principal`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.clients import OrgType
from app.auth.principal import Principal, requires

#: A privacy officer's token with ``audit:read``.
AuditReader = Annotated[Principal, Depends(requires("audit:read", OrgType.privacy_officer))]
