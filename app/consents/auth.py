"""Who may use the consent registry, as types an endpoint takes (see :mod:`app.auth.principal`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.clients import OrgType
from app.auth.principal import Principal, requires

#: A provider's token with ``consents:write``: registers, reads and withdraws its own consents.
ConsentsWriter = Annotated[Principal, Depends(requires("consents:write", OrgType.provider))]
