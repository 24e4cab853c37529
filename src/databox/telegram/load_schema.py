"""The raw tables the Telegram loader writes, and the SQL fragments shared about them.

``raw.telegram_messages`` holds one row per (channel, message id); ``raw.load_manifest``
one row per lake file loaded (what its bytes were, so unchanged files are skipped);
``raw.load_errors`` one row per problem found in a file or record, open until the
file changes and loads cleanly (``resolved_at``).
"""

from __future__ import annotations

from databox.telegram.message import MESSAGE_FIELDS
from databox.warehouse import Column, Session, Table

MESSAGES_TABLE = "raw.telegram_messages"
MANIFEST_TABLE = "raw.load_manifest"
ERRORS_TABLE = "raw.load_errors"

RAW_MESSAGES = Table(
    MESSAGES_TABLE,
    (
        Column("channel", "text", not_null=True),
        Column("message_id", "bigint", not_null=True),
        Column("date", "timestamptz", not_null=True),
        Column("text", "text"),
        Column("views", "bigint"),
        Column("forwards", "bigint"),
        Column("replies", "bigint"),
        Column("has_media", "boolean"),
        Column("image_paths", "json"),  # JSON array of lake-relative paths
        Column("grouped_id", "bigint"),
        Column("edit_date", "timestamptz"),
        Column("post_author", "text"),
        Column("source", "text"),
        Column("scraped_at", "timestamptz", not_null=True),
        Column("raw", "json"),  # the source's own payload (the record's "raw" field)
        # The content model (telegram/message.py). Added after the first release: an
        # older table gets them with ALTER TABLE on the next load (ensure_tables).
        Column("message_type", "text"),  # post | service
        Column("action", "text"),  # service messages: channel_created, pinned, ...
        Column("pinned_message_id", "bigint"),
        Column("new_title", "text"),
        Column("media_kind", "text"),  # none, photo, album, video, poll, sticker, ...
        Column("media", "json"),  # the kind's own fields (poll options, geo, file name, ...)
        Column("reply_to_message_id", "bigint"),
        Column("links", "json"),  # [{type, label, url}] in text order
        Column("link_preview", "json"),
        Column("album_ids", "json"),
        Column("photo_status", "text"),  # ok | partial | failed | NULL (no photo)
        Column("photo_errors", "json"),  # [{index, url, error}] of photos not in the lake
        Column("payload", "json", not_null=True),  # the whole lake record, as loaded
        Column("source_file", "text", not_null=True),  # lake-relative
        Column("loaded_at", "timestamptz", not_null=True),  # the run that last changed the row
    ),
    primary_key=("channel", "message_id"),
)
LOAD_MANIFEST = Table(
    MANIFEST_TABLE,
    (
        Column("source_file", "text", not_null=True),
        Column("sha256", "text", not_null=True),
        Column("size", "bigint", not_null=True),
        Column("mtime_ns", "bigint", not_null=True),
        Column("row_count", "bigint", not_null=True),  # records loaded from the file
        Column("status", "text", not_null=True),  # loaded | partial (bad records) | failed
        Column("loaded_at", "timestamptz", not_null=True),
    ),
    primary_key=("source_file",),
)
LOAD_ERRORS = Table(
    ERRORS_TABLE,
    (
        # A digest of (file, sha256, record index): the same problem in the same bytes
        # is one row however many times it is seen, without a dialect-specific serial.
        Column("error_id", "text", not_null=True),
        Column("source_file", "text", not_null=True),
        Column("sha256", "text", not_null=True),
        Column("record_index", "bigint"),  # 0-based in the file's array; NULL: the whole file
        Column("message_id", "bigint"),
        Column("error", "text", not_null=True),
        Column("record", "text"),  # the bad record (or the file's first bytes), truncated
        Column("quarantine_path", "text"),  # lake-relative copy of the bytes that failed
        Column("first_seen_at", "timestamptz", not_null=True),
        Column("resolved_at", "timestamptz"),  # set once the file changed and loaded again
    ),
    primary_key=("error_id",),
)
RAW_TABLES = (RAW_MESSAGES, LOAD_MANIFEST, LOAD_ERRORS)

ROW_COLUMNS = RAW_MESSAGES.column_names
# Every column but loaded_at decides whether a row changed: rewriting an identical row
# would only move loaded_at, and re-runs must leave unchanged rows byte-identical.
COMPARE_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("channel", "message_id", "loaded_at"))
# A key found in two files (a message re-filed under another day) resolves the same
# way whatever order the files load in: the copy scraped last wins, ties go to the
# later file name. A file's own new content always replaces what it loaded before.
NEWEST_WINS = (
    "t.source_file = excluded.source_file"
    " OR excluded.scraped_at > t.scraped_at"
    " OR (excluded.scraped_at = t.scraped_at AND excluded.source_file > t.source_file)"
)
MANIFEST_COLUMNS = LOAD_MANIFEST.column_names
#: SQL for "this row is a post" (service messages are kept but never counted as posts).
IS_POST = "coalesce(message_type, 'post') = 'post'"
ERROR_COLUMNS = LOAD_ERRORS.column_names


assert ROW_COLUMNS[: len(MESSAGE_FIELDS)] == MESSAGE_FIELDS, "row layout out of step with schema"


def ensure_raw_schema(session: Session) -> None:
    session.ensure_tables(*RAW_TABLES)
