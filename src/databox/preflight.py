"""Up-front checks of what a command or a Dagster step is about to use.

``Settings`` validates the *text* of each variable; this module checks the *things*
they name, before any work starts: that the lake directory exists (for a reader) or
can be made (for a writer), that the processed and dlt directories can be written,
that the warehouse can be opened (a DuckDB file and its directory; a PostgreSQL
server that answers). Every check returns messages instead of raising, so a caller
reports all problems at once; ``require`` turns them into one ``ConfigError``.

Nothing here creates a file or a directory: checking must have no side effects
(``databox config`` and ``databox status`` run them too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from databox.errors import ConfigError

#: Seconds the up-front PostgreSQL check waits for the server (libpq's connect_timeout).
PG_CHECK_TIMEOUT = 3


def dir_blocker(path: Path) -> str | None:
    """Why ``path`` cannot be used as a directory to write in, as a phrase completing
    "<path> …" (None: it can, creating it when missing)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # Path.exists() is False under a regular file too
    if not existing.is_dir():
        if existing == path:
            return "is a file, not a directory"
        return f"cannot be created: {existing} is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot be written: {existing} is not writable by this user"
    return None


def check_dir(
    var: str, path: Path, default: str, *, mode: str = "write", hint: str = ""
) -> list[str]:
    """Problems with the directory ``path`` that variable ``var`` names. ``mode``:
    "read" (it must exist: something is read from it), "update" (exist and be
    writable) or "write" (exist or be creatable, and be writable). ``hint`` replaces
    the advice given when a directory that must exist does not."""
    shown = f"{var}={path}"
    fix = f"point {var} at a directory{'' if mode == 'read' else ' you can write'} (default {default})"
    if path.exists() and not path.is_dir():
        return [f"{shown} is a file, not a directory; {fix}"]
    blocker = dir_blocker(path)
    if mode != "write" and not path.exists():
        if blocker and "is a file" in blocker:  # under a regular file: say that
            return [f"{shown} {blocker}; {fix}"]
        return [f"{shown}: no such directory; {hint or f'check for a typo, or {fix}'}"]
    if mode != "read" and blocker:
        return [f"{shown} {blocker}; {fix}"]
    return []


def check_warehouse(url: str, *, create: bool = True) -> list[str]:
    """Whether the warehouse at ``url`` can be opened: DuckDB's file and directory (a
    missing file is fine when ``create``), or a PostgreSQL server that accepts us."""
    from databox.warehouse import connect

    try:
        warehouse = connect(url)
    except ConfigError as exc:
        return list(exc.problems)
    if warehouse.dialect == "duckdb":
        if not create and not warehouse.path.exists():
            return []  # nothing loaded yet: the caller says so; not a problem
        problem = warehouse.open_problem(create=create)
    else:
        problem = warehouse.open_problem(timeout=PG_CHECK_TIMEOUT)
    return [problem] if problem else []


def require(problems: Iterable[str]) -> None:
    """Raise one ``ConfigError`` holding every problem (none: return)."""
    problems = list(problems)
    if problems:
        raise ConfigError(*problems)
