"""Who may use the records endpoints, as types an endpoint takes (see :mod:`app.auth.principal`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.clients import OrgType
from app.auth.principal import Principal, requires

#: A provider's token with ``records:write``: submits batches and retracts its own records.
RecordsWriter = Annotated[Principal, Depends(requires("records:write", OrgType.provider))]
