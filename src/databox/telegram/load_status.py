"""What the raw layer holds: row counts per channel, the last load, open problems."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from databox.telegram.load_schema import (
    ERRORS_TABLE,
    IS_POST,
    MANIFEST_TABLE,
    MESSAGES_TABLE,
    RAW_TABLES,
)
from databox.warehouse import Warehouse


def _iso(value: Any) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if isinstance(value, datetime) else value


def warehouse_status(warehouse: Warehouse) -> dict:
    """Row counts per channel, the last load, and how many load errors are open."""
    status: dict[str, Any] = {
        "warehouse": warehouse.url,
        "dialect": warehouse.dialect,
        "initialized": False,
        "rows": 0,
        "posts": 0,
        "channels": {},
        "last_loaded_at": None,
        "files_loaded": 0,
        "files_failed": 0,
        "unresolved_errors": 0,
    }
    with warehouse.session() as s:
        if not all(s.table_exists(t.name) for t in RAW_TABLES):
            return status  # never loaded; reading status must not create tables
        status["initialized"] = True
        for channel, rows, posts, last_loaded, newest in s.fetchall(
            # Service messages are kept but are not posts; rows of older releases
            # (message_type NULL) were all posts.
            f"SELECT channel, count(*), count(*) FILTER (WHERE {IS_POST}), max(loaded_at), "
            f"max(date) FROM {MESSAGES_TABLE} GROUP BY channel ORDER BY channel"
        ):
            status["channels"][channel] = {
                "rows": int(rows),
                "posts": int(posts),
                "service_messages": int(rows) - int(posts),
                "last_loaded_at": _iso(last_loaded),
                "newest_message_date": _iso(newest),
            }
        status["rows"] = sum(c["rows"] for c in status["channels"].values())
        status["posts"] = sum(c["posts"] for c in status["channels"].values())
        files, failed, last = s.fetchone(
            f"SELECT count(*), count(*) FILTER (WHERE status = 'failed'), max(loaded_at) "
            f"FROM {MANIFEST_TABLE}"
        )
        status.update(
            files_loaded=int(files) - int(failed),
            files_failed=int(failed),
            last_loaded_at=_iso(last),
        )
        (open_errors,) = s.fetchone(
            f"SELECT count(*) FROM {ERRORS_TABLE} WHERE resolved_at IS NULL"
        )
        status["unresolved_errors"] = int(open_errors)
    return status
