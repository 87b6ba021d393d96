"""Who may read the privacy documents, as types an endpoint takes (see :mod:`app.auth.principal`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.clients import OrgType
from app.auth.principal import Principal, requires

#: A privacy officer's or an admin's token with ``privacy:read``.
PrivacyReader = Annotated[Principal, Depends(requires("privacy:read", OrgType.privacy_officer, OrgType.admin))]
