"""The shared content model: validation, records of older releases, and the additive
migration of a warehouse created before the model existed (DuckDB and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from databox.errors import InvalidRecord
from databox.lake import DataLake, atomic_write_bytes
from databox.telegram.load import RAW_MESSAGES, load_raw_messages, warehouse_status
from databox.telegram.message import MEDIA_KINDS, TelegramMessage
from databox.warehouse import Table, connect

DAY = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
#: The columns raw.telegram_messages had before the content model (first release).
FIRST_RELEASE_COLUMNS = [
    "channel",
    "message_id",
    "date",
    "text",
    "views",
    "forwards",
    "replies",
    "has_media",
    "image_paths",
    "grouped_id",
    "edit_date",
    "post_author",
    "source",
    "scraped_at",
    "raw",
    "payload",
    "source_file",
    "loaded_at",
]


def quiet(_msg: str) -> None:
    pass


def legacy_record(mid: int, **extra) -> dict:
    """A lake record exactly as the first release wrote it (no content-model fields)."""
    return {
        "channel": "CheMed123",
        "message_id": mid,
        "date": DAY.isoformat(),
        "text": f"post {mid}",
        "views": 10,
        "forwards": None,
        "replies": None,
        "has_media": bool(extra.get("image_paths")) or extra.pop("has_media", False),
        "image_paths": [],
        "grouped_id": None,
        "edit_date": None,
        "post_author": None,
        "source": "web",
        "scraped_at": DAY.isoformat(),
        "raw": {},
        **extra,
    }


def test_every_kind_and_action_round_trips():
    for kind in MEDIA_KINDS:
        msg = TelegramMessage(
            channel="c", message_id=1, date=DAY, media_kind=kind, media={"k": 1}, links=[]
        )
        assert TelegramMessage.from_record(msg.to_record()).to_record() == msg.to_record()
    pinned = TelegramMessage(
        channel="c",
        message_id=2,
        date=DAY,
        message_type="service",
        action="pinned",
        pinned_message_id=1,
    )
    again = TelegramMessage.from_record(pinned.to_record())
    assert (again.message_type, again.action, again.pinned_message_id) == ("service", "pinned", 1)
    assert not again.is_post


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"message_type": "story"}, "message_type"),
        ({"message_type": "service"}, "needs an 'action'"),
        ({"action": "pinned"}, "cannot carry the service action"),
        ({"media_kind": "hologram"}, "media_kind"),
        ({"links": [{"type": "url"}]}, "links[0].label"),
        ({"links": [{"type": "ftp", "label": "x"}]}, "links[0].type"),
        ({"album_ids": ["3"]}, "album_ids"),
        ({"photo_status": "lost"}, "photo_status"),
        ({"media": ["poll"]}, "'media' must be a JSON object"),
        ({"reply_to_message_id": "7"}, "reply_to_message_id"),
    ],
)
def test_bad_content_fields_are_rejected_by_name(change, error):
    record = {**TelegramMessage(channel="c", message_id=1, date=DAY).to_record(), **change}
    with pytest.raises(InvalidRecord, match=error.replace("[", r"\[").replace("]", r"\]")):
        TelegramMessage.from_record(record)


def test_records_of_the_first_release_get_defaults_not_inventions():
    plain = TelegramMessage.from_record(legacy_record(1))
    assert (plain.message_type, plain.media_kind, plain.links) == ("post", "none", [])
    photo = TelegramMessage.from_record(legacy_record(2, image_paths=["raw/images/c/2.jpg"]))
    assert photo.media_kind == "photo"
    album = TelegramMessage.from_record(legacy_record(3, image_paths=["a.jpg", "b.jpg"]))
    assert album.media_kind == "album"
    # A video or a file looked the same then: the kind is unknown, so NULL, not a guess.
    assert TelegramMessage.from_record(legacy_record(4, has_media=True)).media_kind is None


def test_a_first_release_warehouse_and_lake_migrate_and_keep_loading(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    old_table = Table(
        RAW_MESSAGES.name,
        tuple(c for c in RAW_MESSAGES.columns if c.name in FIRST_RELEASE_COLUMNS),
        primary_key=RAW_MESSAGES.primary_key,
    )
    wh.ensure_tables(old_table)
    lake = DataLake(tmp_path / "lake")
    old_file = lake.messages_dir / "2025-05-01" / "CheMed123.json"
    atomic_write_bytes(old_file, orjson.dumps([legacy_record(1), legacy_record(2, has_media=True)]))

    report = load_raw_messages(wh, lake, log=quiet)
    assert report.ok and report.rows_inserted == 2
    with wh.session() as s:
        assert s.column_names(RAW_MESSAGES.name) == set(RAW_MESSAGES.column_names)

    # A new-model file beside the old one, including a service message.
    service = TelegramMessage(
        channel="CheMed123",
        message_id=3,
        date=DAY,
        message_type="service",
        action="title_changed",
        new_title="CheMed",
        source="telethon",
    )
    lake.write_messages("CheMed123", [service])
    assert load_raw_messages(wh, lake, log=quiet).ok
    rows = {
        r["message_id"]: r
        for r in wh.query(
            "SELECT message_id, message_type, action, new_title, media_kind "
            "FROM raw.telegram_messages ORDER BY message_id"
        )
    }
    assert rows[1]["message_type"] == "post" and rows[1]["media_kind"] == "none"
    assert rows[2]["media_kind"] is None
    assert (rows[3]["message_type"], rows[3]["action"], rows[3]["new_title"]) == (
        "service",
        "title_changed",
        "CheMed",
    )
    status = warehouse_status(wh)
    assert status["rows"] == 3 and status["posts"] == 2
    assert status["channels"]["CheMed123"]["service_messages"] == 1
