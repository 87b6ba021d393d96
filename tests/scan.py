"""Everything a database copy holds, as bytes: the SQLite file (with its WAL) or a pg_dump."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.postgres import find_bin_dir


def database_bytes(url: str) -> bytes:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        data = path.read_bytes()
        for suffix in ("-wal", "-journal"):
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                data += extra.read_bytes()
        return data
    bin_dir = find_bin_dir()
    pg_dump = str(bin_dir / "pg_dump") if bin_dir else shutil.which("pg_dump")
    assert pg_dump, "pg_dump is needed to scan a PostgreSQL database"
    command = [pg_dump, "--no-owner", "-d", parsed.database or "", "-U", parsed.username or "postgres"]
    host = parsed.query.get("host") or parsed.host
    if host:
        command += ["-h", str(host)]
    if parsed.port:
        command += ["-p", str(parsed.port)]
    env = {"PGPASSWORD": parsed.password} if parsed.password else None
    return subprocess.run(command, check=True, capture_output=True, env=env, timeout=120).stdout
