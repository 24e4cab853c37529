"""What both SQLMesh refreshes (ebird_refresh, telegram_refresh) ask before running:
the digest of the files a project builds from, and whether it was ever built."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from databox.warehouse import Session


def files_digest(header: str, project_dir: Path, extra: Iterable[Path], root: Path) -> str:
    """sha256 of ``header``, then each project file (``dag.json`` and bytecode left out:
    derived) and each ``extra`` file, by its path relative to ``root`` and its bytes."""
    digest = hashlib.sha256(header.encode())
    files = sorted(p for p in project_dir.rglob("*") if p.is_file()
                   and "__pycache__" not in p.parts and p.name != "dag.json")  # fmt: skip
    for path in [*files, *extra]:
        digest.update(f"{path.relative_to(root)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def has_prod_environment(session: Session, environments: str) -> bool:
    """Whether the project's SQLMesh state (its ``_environments`` table) has ``prod``."""
    if not session.table_exists(environments):
        return False
    row = session.fetchone(f"SELECT count(*) FROM {environments} WHERE name = 'prod'")
    return bool(row and row[0])
