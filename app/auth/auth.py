"""Who may manage machine clients, as types an endpoint takes (see :mod:`app.auth.principal`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.clients import OrgType
from app.auth.principal import Principal, requires

#: The admin's token with ``admin``: registers and lists machine clients.
ClientsAdmin = Annotated[Principal, Depends(requires("admin", OrgType.admin))]
