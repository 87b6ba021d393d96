"""The installed package migrates: a wheel of this checkout, installed non-editable, runs `ttp db upgrade`.

An operator (or the Dockerfile) runs ``pip install .``, not an editable install from a checkout: the
alembic migrations must travel inside the wheel (``app/migrations/``, package data), or ``ttp db
upgrade`` finds nothing to apply. This builds the wheel from a copy of the sources (the shared
checkout's ``build/`` is left alone), installs it with ``--no-deps --no-index`` into a fresh
virtual environment, and only then lets that environment see this environment's dependencies (a
``.pth`` line: no download of the server's dependencies). The commands run from a folder outside
the checkout, so ``app`` can only come from the installed wheel.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app import db
from app.models import Base

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "app", "consent", "pseudonymisation", "provider_tool")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist),
                            str(source)], capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("outcome_ttp-*.whl")
    return wheel


@pytest.mark.slow
def test_a_non_editable_install_runs_db_upgrade_from_its_own_migrations(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"app/migrations/env.py", "app/migrations/script.py.mako"} <= names
    in_checkout = {f"app/migrations/versions/{p.name}" for p in db.MIGRATIONS_DIR.glob("versions/*.py")}
    assert in_checkout and in_checkout <= names, "a migration of the checkout is missing from the wheel"

    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                              "--no-index", str(wheel)], capture_output=True, text=True, env=_clean_env(),
                             cwd=tmp_path, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    # Only now the dependencies: this environment's site-packages as a plain path (its .pth files, among
    # them the checkout's editable hook, are not processed), after the new environment's own.
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    database = elsewhere / "fresh.sqlite3"
    env = _clean_env(TTP_DATA_DIR=str(elsewhere / "var"), TTP_DATABASE_URL=f"sqlite:///{database}",
                     TTP_LOG_LEVEL="WARNING")
    where = subprocess.run([str(python), "-c", "from app import db; print(db.MIGRATIONS_DIR)"], capture_output=True,
                           text=True, env=env, cwd=elsewhere, timeout=60)
    assert where.returncode == 0, where.stderr
    migrations = Path(where.stdout.strip())
    assert migrations.is_relative_to(purelib) and (migrations / "env.py").is_file(), migrations

    ttp = target / "bin" / "ttp"
    helped = subprocess.run([str(ttp), "--help"], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "db" in helped.stdout and "serve" in helped.stdout

    upgraded = subprocess.run([str(ttp), "db", "upgrade"], capture_output=True, text=True, env=env, cwd=elsewhere,
                              timeout=120)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    head = ScriptDirectory(str(db.MIGRATIONS_DIR)).get_current_head()
    with sqlite3.connect(database) as connection:
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert version == head
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
