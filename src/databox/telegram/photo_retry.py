"""Photos that failed to download, retried on later runs.

A photo that fails never fails its channel: the message lands with ``photo_status``
and ``photo_errors``, and the photo goes on the channel's pending list
(``state/telegram/<channel>.photos_pending.json``) until it lands or
``PHOTO_MAX_ATTEMPTS`` runs have tried it. The list is derived from the message
records (``photo_errors`` entries with a URL), so it works for either source.

Because it is derived, a damaged list (truncated, garbled) is rebuilt from the day
files by ``read_pending``: its copy is kept in the quarantine and a warning names
both. Retry counts are lost with it, so a rebuilt entry counts as tried once. A
damaged day file is skipped (its photos stay pending) while the rest are retried.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

from databox.lake import CorruptLakeFile, DataLake, utc_day
from databox.telegram.message import TelegramMessage
from databox.telegram.source import FetchContext

if TYPE_CHECKING:
    from databox.telegram.scrape import ChannelResult

#: A photo is tried this many times in all (its first download included), one try a
#: run, before it is dropped from the pending list; its record keeps the error.
PHOTO_MAX_ATTEMPTS = 5
#: Ends the error of a photo given up on; a rebuilt pending list leaves it out.
GAVE_UP = "gave up after"


class PhotoFetcher(Protocol):
    """Downloads photos by URL into the lake (``WebPreviewSource.fetch_photos``)."""

    async def fetch_photos(self, channel: str, jobs, ctx: FetchContext) -> list: ...

    async def aclose(self) -> None: ...


def _photo_status(n_paths: int, n_errors: int) -> str | None:
    if n_errors == 0:
        return "ok" if n_paths else None
    return "partial" if n_paths else "failed"


def _error_at(record: dict, index: int, url: str) -> dict | None:
    for error in record.get("photo_errors") or []:
        if error.get("index") == index and error.get("url") == url:
            return error
    return None


def land_photo(record: dict, index: int, path: str) -> dict:
    """``record`` with photo ``index`` landed at ``path``: the path joins
    ``image_paths`` in photo order, its error leaves ``photo_errors``."""
    errors = list(record.get("photo_errors") or [])
    paths = list(record.get("image_paths") or [])
    failed = {e.get("index") for e in errors}
    # image_paths and photo_errors partition the post's photos: the paths belong, in
    # order, to the indices that have no error.
    landed = [i for i in range(len(paths) + len(errors)) if i not in failed]
    if len(landed) == len(paths):
        pairs = sorted([*zip(landed, paths, strict=True), (index, path)])
        paths = [p for _, p in pairs]
    else:  # indices the record cannot place: keep the order we have
        paths.append(path)
    errors = [e for e in errors if e.get("index") != index]
    return {
        **record,
        "image_paths": paths,
        "photo_errors": errors,
        "photo_status": _photo_status(len(paths), len(errors)),
    }


def read_pending(lake: DataLake, channel: str, log: Callable[[str], None]) -> list[dict]:
    """The channel's pending list; rebuilt from its records when the file is damaged."""
    try:
        return lake.read_photos_pending(channel)
    except CorruptLakeFile as exc:
        rebuilt = pending_from_records(lake, channel)
        lake.write_photos_pending(channel, rebuilt)
        log(f"{channel}: WARNING {exc}; rebuilt from the day files: {len(rebuilt)} pending")
        return rebuilt


def pending_from_records(lake: DataLake, channel: str) -> list[dict]:
    """A pending entry for every photo error with a URL that was not given up on."""
    now = datetime.now(timezone.utc).isoformat()
    out = []
    for path, records in lake.readable_day_files(channel, f"rebuilding {channel}'s pending"):
        for r in records:
            if not isinstance(r, dict) or not isinstance(r.get("message_id"), int):
                continue  # the loader reports such records
            for error in r.get("photo_errors") or []:
                if not isinstance(error, dict) or not isinstance(error.get("url"), str):
                    continue
                if GAVE_UP in str(error.get("error")):
                    continue
                out.append(
                    {
                        "message_id": r["message_id"],
                        "day": path.parent.name,
                        "index": int(error.get("index") or 0),
                        "url": error["url"],
                        "attempts": 1,  # unknown: the first download at least
                        "error": error.get("error"),
                        "first_failed_at": now,
                        "last_attempt_at": now,
                    }
                )
    return out


def queue_photo_failures(
    lake: DataLake, channel: str, messages: Sequence[TelegramMessage], log: Callable[[str], None]
) -> int:
    """Put the failed photos of freshly written ``messages`` on the pending list;
    returns how many photos failed. A failure without a URL (Telethon) cannot be
    retried by URL: it is logged and stays recorded on its message only."""
    failed = 0
    pending = {(e["message_id"], e["index"]): e for e in read_pending(lake, channel, log)}
    changed = False
    now = datetime.now(timezone.utc).isoformat()
    for msg in messages:
        if msg.photo_status in (None, "ok") and not msg.photo_errors:
            continue
        for error in msg.photo_errors:
            failed += 1
            index = int(error.get("index") or 0)
            url = error.get("url")
            if not url:
                log(
                    f"{channel}: photo {index} of message {msg.message_id} failed "
                    f"({error.get('error')}); it has no URL, so later runs cannot retry it"
                )
                continue
            key = (msg.message_id, index)
            before = pending.get(key)
            pending[key] = {
                "message_id": msg.message_id,
                "day": utc_day(msg.date),
                "index": index,
                "url": url,
                "attempts": (before["attempts"] if before else 0) + 1,
                "error": error.get("error"),
                "first_failed_at": before.get("first_failed_at", now) if before else now,
                "last_attempt_at": now,
            }
            changed = True
    if changed:
        lake.write_photos_pending(channel, list(pending.values()))
    return failed


async def retry_pending_photos(
    fetcher: PhotoFetcher | None,
    lake: DataLake,
    channel: str,
    ctx: FetchContext,
    result: ChannelResult,
    *,
    max_attempts: int = PHOTO_MAX_ATTEMPTS,
) -> None:
    """Download the channel's pending photos again (call under the channel lock).

    A photo that lands is written, then its message's record is rewritten in its day
    file (``image_paths``, ``photo_status``, ``photo_errors``) so the loader picks the
    change up, and only then does it leave the list; a crash in between retries it
    once more and finds the record already fixed. One that fails again stays pending
    with the new error until ``max_attempts`` tries; then its record says so."""
    pending = read_pending(lake, channel, ctx.log)
    if not pending:
        return
    # Drop entries whose record no longer holds that error (rescraped, fixed by hand).
    live: list[dict] = []
    blocked: list[dict] = []  # their day file is damaged: kept pending, not retried
    records: dict[str, dict[int, dict] | None] = {}
    for entry in pending:
        day = str(entry["day"])
        if day not in records:
            records[day] = _records_by_id(lake, channel, day, ctx.log)
        by_id = records[day]
        if by_id is None:
            blocked.append(entry)
            continue
        record = by_id.get(int(entry["message_id"]))
        if record is not None and _error_at(record, int(entry["index"]), entry["url"]):
            live.append(entry)
    if fetcher is None:
        ctx.log(
            f"{channel}: {len(live)} photo(s) pending a retry; this source cannot download "
            "by URL, so they wait for a run with the web source"
        )
        result.photos_pending = len(live) + len(blocked)
        lake.write_photos_pending(channel, live + blocked)
        return
    jobs = [(int(e["message_id"]), int(e["index"]), str(e["url"])) for e in live]
    results = await fetcher.fetch_photos(channel, jobs, ctx) if jobs else []
    result.photos_retried = len(jobs)
    now = datetime.now(timezone.utc).isoformat()
    keep: list[dict] = []
    changed: dict[str, dict[int, dict]] = defaultdict(dict)
    for entry, outcome in zip(live, results, strict=True):
        day, mid, index = str(entry["day"]), int(entry["message_id"]), int(entry["index"])
        record = changed[day].get(mid) or records[day][mid]  # type: ignore[index]
        if outcome.path is not None:
            changed[day][mid] = land_photo(record, index, outcome.path)
            result.photos_recovered += 1
            result.images += 1
            ctx.log(f"{channel}: photo {index} of message {mid} landed on retry")
            continue
        attempts = int(entry.get("attempts") or 1) + 1
        error = outcome.error or "unknown error"
        if attempts >= max_attempts:
            error = f"{error}; {GAVE_UP} {attempts} attempts"
            result.photos_given_up += 1
            ctx.log(f"{channel}: WARNING photo {index} of message {mid}: {error}")
        else:
            keep.append({**entry, "attempts": attempts, "error": error, "last_attempt_at": now})
        errors = [
            {**e, "error": error} if e.get("index") == index else e
            for e in record.get("photo_errors") or []
        ]
        if errors != record.get("photo_errors"):
            changed[day][mid] = {**record, "photo_errors": errors}
    for day, updated in sorted(changed.items()):
        if updated:
            await asyncio.to_thread(lake.replace_records, channel, day, list(updated.values()))
    lake.write_photos_pending(channel, keep + blocked)
    result.photos_pending = len(keep) + len(blocked)


def _records_by_id(
    lake: DataLake, channel: str, day: str, log: Callable[[str], None]
) -> dict[int, dict] | None:
    """The day's records by id; None (logged) when its file is damaged."""
    try:
        records = lake.read_day_records(channel, day)
    except CorruptLakeFile as exc:
        log(f"{channel}: WARNING {exc}; its pending photos wait until it is repaired")
        return None
    return {r["message_id"]: r for r in records if isinstance(r, dict) and "message_id" in r}
