"""The code's shape, checked: rules a newcomer would otherwise learn by breaking them.

- No module imports a leading-underscore name from another module: what a module shares, it
  names publicly.
- Authorisation reads as a type: routers take ``Annotated`` aliases (``RecordsWriter``, ...), never
  ``Depends(requires(...))`` inline.
- The pure packages stay pure: ``consent/``, ``pseudonymisation/`` and ``app/reports/disclosure/``
  import nothing of the web app or the database.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("app", "consent", "pseudonymisation", "tests", "bench")


def _python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _private_imports(path: Path) -> list[str]:
    """``from x import _y`` where x is another project module (a package's own __init__ may gather)."""
    found = []
    own = _module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level:
            continue
        module = node.module or ""
        if module.split(".")[0] not in PROJECT_PACKAGES or module == own:
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {alias.name} from {module}")
        if module.split(".")[-1].startswith("_") and not module.split(".")[-1].startswith("__"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports from private module {module}")
    return found


def test_no_module_imports_a_private_name_of_another() -> None:
    found = [line for path in _python_files(*PROJECT_PACKAGES) for line in _private_imports(path)]
    assert found == []


def test_the_private_import_check_catches_one(tmp_path: Path) -> None:
    probe = ROOT / "app" / "_layout_probe.py"
    probe.write_text("from app.reports.disclosure.intervals import _something\n", encoding="utf-8")
    try:
        assert _private_imports(probe) == [
            "app/_layout_probe.py:1 imports _something from app.reports.disclosure.intervals"]
    finally:
        probe.unlink()


def _inline_requires(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Depends"
                and node.args and isinstance(node.args[0], ast.Call)
                and isinstance(node.args[0].func, ast.Name) and node.args[0].func.id == "requires"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_router_calls_requires_inline() -> None:
    routers = [p for p in _python_files("app") if p.name == "router.py" or p.parent.name == "ui"]
    assert routers, "no router modules found"
    assert [line for path in routers for line in _inline_requires(path)] == []


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module or "")
    return names


WEB_OR_DATABASE = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "httpx", "psycopg", "jose")


@pytest.mark.parametrize("package, may_import", [
    ("consent", ()),
    ("pseudonymisation", ()),
    ("app/reports/disclosure", ("app.reports.disclosure",)),
])
def test_pure_packages_import_no_web_or_database(package: str, may_import: tuple[str, ...]) -> None:
    for path in _python_files(package):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in WEB_OR_DATABASE, f"{path.relative_to(ROOT)} imports {name}"
            if top == "app":
                assert name.startswith(may_import), f"{path.relative_to(ROOT)} imports {name}"
            assert top in sys.stdlib_module_names or top in ("numpy", "scipy", "app", package.split("/")[0]), (
                f"{path.relative_to(ROOT)} imports {name}")
