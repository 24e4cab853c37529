"""TelethonSource and the login helper against a fake Telethon client (no network).

Messages and media are real Telethon TL objects (``telethon.tl.types``), so attribute
names and properties such as ``msg.photo`` behave exactly as in production; only the
client (the network side) is faked.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from telethon import errors
from telethon.tl import types

from databox.errors import ChannelUnavailable, ConfigError
from databox.lake import DataLake
from databox.telegram.login import create_string_session, login_main
from databox.telegram.message import TelegramMessage
from databox.telegram.source import FetchContext
from databox.telegram.telethon_source import TelethonSource

CHANNEL = "pharmachan"
T0 = datetime(2025, 1, 1, 8, 0, tzinfo=timezone.utc)


def run(coro):
    return asyncio.run(coro)


# -- message builders ---------------------------------------------------------------
def _photo(pid: int) -> types.Photo:
    return types.Photo(
        id=pid,
        access_hash=1,
        file_reference=b"\x00ref",
        date=T0,
        sizes=[types.PhotoSize(type="y", w=640, h=480, size=50_000)],
        dc_id=2,
    )


def post(mid: int, *, text: str | None = None, photo: bool = False, grouped_id=None, **kw):
    media = types.MessageMediaPhoto(photo=_photo(mid)) if photo else kw.pop("media", None)
    return types.Message(
        id=mid,
        peer_id=types.PeerChannel(channel_id=777),
        date=T0 + timedelta(minutes=mid),
        message=f"post {mid}" if text is None else text,
        media=media,
        grouped_id=grouped_id,
        views=10 * mid,
        forwards=mid % 3,
        post=True,
        **kw,
    )


def service(mid: int):
    return types.MessageService(
        id=mid,
        peer_id=types.PeerChannel(channel_id=777),
        date=T0 + timedelta(minutes=mid),
        action=types.MessageActionPinMessage(),
    )


def video(mid: int):
    doc = types.Document(
        id=9000 + mid,
        access_hash=1,
        file_reference=b"",
        date=T0,
        mime_type="video/mp4",
        size=1_000_000,
        dc_id=2,
        attributes=[types.DocumentAttributeVideo(duration=3.0, w=640, h=360)],
    )
    return post(mid, text="", media=types.MessageMediaDocument(document=doc))


# -- the fake client ----------------------------------------------------------------
class FakeClient:
    """The part of ``telethon.TelegramClient`` TelethonSource uses, without a network.

    ``floods`` maps ``("iter", id)`` / ``("download", id)`` / ``("resolve", channel)``
    to FloodWait seconds, raised once just before that message would be yielded or
    downloaded (or the channel resolved)."""

    def __init__(
        self, channels=None, *, authorized=True, bot=False, photos=(), floods=None, failures=None
    ):
        self.channels: dict[str, list] = channels if channels is not None else {}
        self.authorized = authorized
        self.bot = bot
        self.photos = list(photos)
        self.floods = dict(floods or {})
        # message id -> exception raised by download_media, or None to return None
        self.failures = dict(failures or {})
        self.connected = False
        self.connect_calls = 0
        self.disconnect_calls = 0
        self.iter_calls: list[tuple[str, int, bool]] = []
        self.downloads: list[int] = []

    def _flood(self, key):
        if key in self.floods:
            raise errors.FloodWaitError(request=None, capture=self.floods.pop(key))

    async def connect(self):
        self.connected = True
        self.connect_calls += 1

    async def disconnect(self):
        self.connected = False
        self.disconnect_calls += 1

    async def is_user_authorized(self):
        assert self.connected, "is_user_authorized before connect"
        return self.authorized

    async def get_me(self):
        if not self.authorized:
            return None
        return types.User(id=4242, bot=self.bot, username="databox_tester")

    def start(self, *args, **kwargs):
        raise AssertionError("a scraper run must never call client.start()")

    async def get_entity(self, name):
        assert self.connected
        self._flood(("resolve", name))
        if name == "privatechan":
            raise errors.ChannelPrivateError(request=None)
        if name == "bad_name":
            raise errors.UsernameInvalidError(request=None)
        if name == "some_person":
            return types.User(id=55, username=name)
        if name not in self.channels:
            # What telethon's get_entity raises when ResolveUsername finds nobody.
            raise ValueError(f'No user has "{name}" as username')
        return types.Channel(
            id=777, title=name, photo=types.ChatPhotoEmpty(), date=T0, broadcast=True, username=name
        )

    async def iter_messages(
        self, entity, limit=None, *, offset_id=0, max_id=0, min_id=0, reverse=False, **kwargs
    ):
        """Like Telethon: newest first unless ``reverse``; ``min_id``/``max_id`` exclusive."""
        assert self.connected
        assert not kwargs, f"unexpected arguments {kwargs}"
        self.iter_calls.append((entity.username, min_id, reverse))
        msgs = sorted(self.channels[entity.username], key=lambda m: m.id, reverse=not reverse)
        count = 0
        for msg in msgs:
            if msg.id <= min_id or (max_id and msg.id >= max_id):
                continue
            if limit is not None and count >= limit:
                return
            self._flood(("iter", msg.id))
            count += 1
            yield msg

    async def download_media(self, message, file=None, *, thumb=None, progress_callback=None):
        if message.photo is None:
            return None
        self._flood(("download", message.id))
        if message.id in self.failures:
            if self.failures[message.id] is None:
                return None
            Path(file).write_bytes(b"\xff\xd8 half a photo")
            raise self.failures[message.id]
        self.downloads.append(message.id)
        path = Path(file)
        if not path.suffix:  # Telethon adds the extension when the name has none
            path = path.with_suffix(".jpg")
        # Telethon opens the target as is: a missing folder is the caller's problem.
        path.write_bytes(self.photos[message.id % len(self.photos)].read_bytes())
        return str(path)


# -- fixtures -----------------------------------------------------------------------
@pytest.fixture
def lake(tmp_path: Path) -> DataLake:
    return DataLake(tmp_path / "lake")


@pytest.fixture
def logs() -> list[str]:
    return []


@pytest.fixture
def ctx(lake: DataLake, logs: list[str]) -> FetchContext:
    return FetchContext(image_path_for=lake.image_path, lake_root=lake.root, log=logs.append)


def make_source(client: FakeClient, **kw) -> tuple[TelethonSource, list[float]]:
    slept: list[float] = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    source = TelethonSource(
        1234,
        "hash",
        "session",
        client_factory=lambda: client,
        log=lambda s: None,
        sleep=fake_sleep,
        **kw,
    )
    return source, slept


async def collect(source, channel, after_id, ctx, *, close=True):
    try:
        return [batch async for batch in source.fetch_since(channel, after_id, ctx)]
    finally:
        if close:
            await source.aclose()


def ids(batches) -> list[int]:
    return [m.message_id for b in batches for m in b]


def assert_albums_whole(batches) -> None:
    where: dict[int, set[int]] = {}
    for n, batch in enumerate(batches):
        for m in batch:
            if m.grouped_id is not None:
                where.setdefault(m.grouped_id, set()).add(n)
    split = {g: b for g, b in where.items() if len(b) > 1}
    assert not split, f"albums split across batches: {split}"


# -- fetching -----------------------------------------------------------------------
def test_full_then_incremental_has_no_gap_and_no_duplicate(lake, ctx):
    history = [service(1)] + [post(i) for i in range(2, 251)]
    history[50] = service(51)
    client = FakeClient({CHANNEL: list(history)})
    source, _ = make_source(client)

    async def scrape():
        # What the scraper does: write each batch, then move the watermark.
        async for batch in source.fetch_since(CHANNEL, lake.read_watermark(CHANNEL), ctx):
            lake.write_messages(CHANNEL, batch)
            lake.write_watermark(CHANNEL, batch[-1].message_id)

    async def two_runs():
        await scrape()
        first = [r["message_id"] for r in lake.read_messages(CHANNEL)]
        client.channels[CHANNEL] += [post(i) for i in range(251, 271)] + [service(271)]
        await scrape()
        await source.aclose()
        return first

    first = run(two_runs())
    # Service messages are kept (as message_type "service"), in id order.
    assert first == [m.id for m in history] == list(range(1, 251))
    records = lake.read_messages(CHANNEL)
    assert [r["message_id"] for r in records] == list(range(1, 272))
    services = [r["message_id"] for r in records if r["message_type"] == "service"]
    assert services == [1, 51, 271]
    assert lake.read_watermark(CHANNEL) == 271
    # The second run asked only for what follows the watermark, oldest first.
    assert client.iter_calls == [(CHANNEL, 0, True), (CHANNEL, 250, True)]
    assert client.connect_calls == 1 and client.disconnect_calls == 1


def test_batches_are_ascending_and_bounded(ctx):
    client = FakeClient({CHANNEL: [post(i) for i in range(1, 251)]})
    source, _ = make_source(client)
    batches = run(collect(source, CHANNEL, None, ctx))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert ids(batches) == list(range(1, 251))
    # after_id is exclusive
    batches = run(collect(source, CHANNEL, 240, ctx))
    assert ids(batches) == list(range(241, 251))
    assert run(collect(source, CHANNEL, 250, ctx)) == []


@pytest.mark.parametrize("album_start", [95, 98, 100, 101])
def test_album_is_never_split_at_the_batch_boundary(ctx, album_start):
    history = [
        post(i, grouped_id=5000 if album_start <= i < album_start + 5 else None)
        for i in range(1, 221)
    ]
    client = FakeClient({CHANNEL: history})
    source, _ = make_source(client)
    batches = run(collect(source, CHANNEL, None, ctx))
    assert ids(batches) == list(range(1, 221))
    assert_albums_whole(batches)
    if album_start <= 100 < album_start + 4:  # the album straddles message 100
        assert len(batches[0]) == album_start + 4  # the batch grew to hold the album


def test_back_to_back_albums_with_tiny_batches(ctx):
    history, mid = [], 1
    for album in range(12):
        for _ in range(1 + album % 4):
            history.append(post(mid, grouped_id=100 + album))
            mid += 1
        history.append(post(mid))  # a single post between albums
        mid += 1
    client = FakeClient({CHANNEL: history})
    source, _ = make_source(client, batch_size=2)
    batches = run(collect(source, CHANNEL, None, ctx))
    assert ids(batches) == [m.id for m in history]
    assert_albums_whole(batches)


def test_photos_are_written_and_paths_are_relative(lake, ctx, coco_photos):
    history = [
        post(1, photo=True, grouped_id=77, text="Paracetamol 500mg"),
        post(2, photo=True, grouped_id=77, text=""),
        video(3),
        post(
            4,
            media=types.MessageMediaWebPage(
                webpage=types.WebPage(
                    id=1,
                    url="https://example.org/x",
                    display_url="example.org",
                    hash=0,
                    photo=_photo(99),
                )
            ),
        ),
        service(5),
        post(6, text="plain"),
    ]
    client = FakeClient({CHANNEL: history}, photos=coco_photos)
    source, _ = make_source(client)
    msgs = [m for b in run(collect(source, CHANNEL, None, ctx)) for m in b]
    by_id = {m.message_id: m for m in msgs}
    assert sorted(by_id) == [1, 2, 3, 4, 5, 6]
    assert by_id[5].message_type == "service" and not by_id[5].has_media

    for mid in (1, 2):
        (rel,) = by_id[mid].image_paths
        assert rel == f"raw/images/{CHANNEL}/{mid}.jpg"  # relative to the lake, POSIX
        data = (lake.root / rel).read_bytes()
        assert data[:3] == b"\xff\xd8\xff"  # a real JPEG
        assert data == coco_photos[mid % len(coco_photos)].read_bytes()
        assert by_id[mid].has_media
    # Video: media without an image; link preview: neither media nor download.
    assert by_id[3].has_media and by_id[3].image_paths == []
    assert by_id[3].photo_status is None
    assert not by_id[4].has_media and by_id[4].image_paths == []
    assert by_id[4].photo_status is None and by_id[4].link_preview["url"] == "https://example.org/x"
    assert [by_id[i].photo_status for i in (1, 2)] == ["ok", "ok"]
    assert not by_id[6].has_media
    assert client.downloads == [1, 2]


def test_message_fields_and_raw_are_json_safe(ctx, coco_photos):
    edited = T0 + timedelta(days=1)
    msg = post(
        10,
        photo=True,
        text="Vitamin C https://example.org",
        grouped_id=2**62,
        replies=types.MessageReplies(replies=4, replies_pts=1),
        edit_date=edited,
        post_author="Abebe",
        fwd_from=types.MessageFwdHeader(
            date=T0, from_id=types.PeerChannel(channel_id=9), channel_post=3
        ),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=8),
        reactions=types.MessageReactions(
            results=[
                types.ReactionCount(reaction=types.ReactionEmoji(emoticon="👍"), count=5),
                types.ReactionCount(reaction=types.ReactionCustomEmoji(document_id=123), count=2),
            ]
        ),
        entities=[
            types.MessageEntityUrl(offset=10, length=19),
            types.MessageEntityBold(offset=0, length=7),
        ],
    )
    client = FakeClient({CHANNEL: [msg, video(11)]}, photos=coco_photos)
    source, _ = make_source(client)
    (m, v) = run(collect(source, CHANNEL, None, ctx))[0]

    assert m.source == "telethon" and m.channel == CHANNEL
    assert m.date == T0 + timedelta(minutes=10) and m.date.tzinfo == timezone.utc
    assert (m.text, m.views, m.forwards, m.replies) == ("Vitamin C https://example.org", 100, 1, 4)
    assert (m.grouped_id, m.edit_date, m.post_author) == (2**62, edited, "Abebe")
    assert v.replies is None and v.text is None  # no caption: no text, as on the web

    raw = m.raw
    assert raw["media_type"] == "MessageMediaPhoto" and raw["photo_id"] == 10
    assert raw["reply_to_msg_id"] == 8
    assert raw["fwd_from"]["from_id"] == {"_": "PeerChannel", "channel_id": 9}
    assert raw["fwd_from"]["date"] == T0.isoformat()
    assert raw["reactions"] == [
        {"reaction": "👍", "count": 5},
        {"reaction": "custom:123", "count": 2},
    ]
    assert raw["reactions_total"] == 7
    assert raw["entities"] == 2 and raw["entity_types"] == ["MessageEntityBold", "MessageEntityUrl"]
    assert v.raw["document"]["mime_type"] == "video/mp4"
    # The lake writes with orjson; the record must also survive the stdlib json.
    for record in (m.to_record(), v.to_record()):
        assert json.loads(orjson.dumps(record)) == json.loads(json.dumps(record))


def test_the_returned_download_path_is_respected(lake, coco_photos):
    # A target without an extension: Telethon appends ".jpg" and returns that path.
    ctx = FetchContext(
        image_path_for=lambda ch, mid, i, ext: lake.root / "raw" / "images" / ch / f"{mid}",
        lake_root=lake.root,
        log=lambda s: None,
    )
    client = FakeClient({CHANNEL: [post(3, photo=True)]}, photos=coco_photos)
    source, _ = make_source(client)
    (m,) = run(collect(source, CHANNEL, None, ctx))[0]
    assert m.image_paths == [f"raw/images/{CHANNEL}/3.jpg"]
    assert (lake.root / m.image_paths[0]).is_file()


# -- FloodWait ----------------------------------------------------------------------
def test_flood_wait_below_the_ceiling_sleeps_and_resumes(ctx, logs, coco_photos):
    history = [
        post(i, photo=i in (42, 99, 100), grouped_id=9 if i in (99, 100, 101) else None)
        for i in range(1, 181)
    ]
    floods = {("resolve", CHANNEL): 3, ("download", 42): 5, ("iter", 100): 30, ("iter", 150): 299}
    client = FakeClient({CHANNEL: history}, photos=coco_photos, floods=floods)
    source, slept = make_source(client, max_flood_wait=300)
    batches = run(collect(source, CHANNEL, None, ctx))

    assert slept == [3, 5, 30, 299]
    assert f"FloodWait: sleeping 30 s for channel {CHANNEL}" in logs
    assert ids(batches) == list(range(1, 181))  # no gap, no duplicate
    assert_albums_whole(batches)
    # Each retry restarted strictly after the last message taken: 41 (the download of
    # 42 failed), then 99 (album 99-101 still buffered), then 149.
    assert [c[1] for c in client.iter_calls] == [0, 41, 99, 149]
    assert client.downloads == [42, 99, 100]


def test_flood_wait_above_the_ceiling_fails_the_channel(ctx):
    client = FakeClient({CHANNEL: [post(i) for i in range(1, 50)]}, floods={("iter", 20): 1000})
    source, slept = make_source(client, max_flood_wait=300)
    with pytest.raises(ChannelUnavailable) as info:
        run(collect(source, CHANNEL, None, ctx))
    assert info.value.channel == CHANNEL
    assert "wait 1000 s" in str(info.value) and "TELEGRAM_MAX_FLOOD_WAIT=300" in str(info.value)
    assert slept == []


def test_endless_flood_waits_give_up(ctx):
    client = FakeClient({CHANNEL: [post(1)]})
    source, slept = make_source(client)

    async def always_flood(*args, **kwargs):
        raise errors.FloodWaitError(request=None, capture=2)
        yield  # pragma: no cover - makes this an async generator

    client.iter_messages = always_flood
    with pytest.raises(ChannelUnavailable, match="kept asking to wait"):
        run(collect(source, CHANNEL, None, ctx))
    assert slept == [2] * 5


# -- account and channel errors -----------------------------------------------------
def test_unauthorized_session_is_a_config_error(ctx):
    client = FakeClient({CHANNEL: [post(1)]}, authorized=False)
    source, _ = make_source(client)

    async def two_channels():
        errs = []
        for _ in range(2):
            with pytest.raises(ConfigError) as info:
                await collect(source, CHANNEL, None, ctx, close=False)
            errs.append(info.value)
        return errs

    first, second = run(two_channels())
    assert "TELEGRAM_SESSION" in str(first) and "databox telegram login" in str(first)
    assert "expired" in str(first)
    assert second is first and client.connect_calls == 1  # not retried per channel
    assert not client.connected  # the failed connection was closed


def test_bot_account_is_refused(ctx):
    client = FakeClient({CHANNEL: [post(1)]}, bot=True)
    source, _ = make_source(client)
    with pytest.raises(ConfigError) as info:
        run(collect(source, CHANNEL, None, ctx))
    text = str(info.value)
    assert "bot" in text and "BOT_METHOD_INVALID" in text and "user session" in text
    assert "messages.getHistory" in text


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ("ghostchannel", "cannot resolve"),
        ("privatechan", "private"),
        ("bad_name", "not a valid"),
        ("some_person", "belongs to a user"),
    ],
)
def test_unreadable_channel_is_channel_unavailable(ctx, channel, reason):
    client = FakeClient({CHANNEL: [post(1)]})
    source, _ = make_source(client)
    with pytest.raises(ChannelUnavailable) as info:
        run(collect(source, channel, None, ctx))
    assert info.value.channel == channel and reason in info.value.reason


def test_one_client_is_shared_by_concurrent_channels(ctx):
    made: list[FakeClient] = []
    channels = {f"chan{n}": [post(i) for i in range(1, 30)] for n in range(3)}

    def factory():
        made.append(FakeClient(channels))
        return made[-1]

    source = TelethonSource(1, "h", "s", client_factory=factory, log=lambda s: None)

    async def scrape_all():
        try:
            return await asyncio.gather(
                *(collect(source, ch, None, ctx, close=False) for ch in channels)
            )
        finally:
            await source.aclose()

    results = run(scrape_all())
    assert [ids(r) for r in results] == [list(range(1, 30))] * 3
    assert len(made) == 1 and made[0].connect_calls == 1 and made[0].disconnect_calls == 1


def test_default_client_is_a_real_telethon_client_without_network():
    from telethon.crypto import AuthKey
    from telethon.sessions import StringSession

    s = StringSession()
    s.set_dc(2, "149.154.167.51", 443)
    s.auth_key = AuthKey(bytes(range(256)))
    session_string = s.save()

    async def build():
        source = TelethonSource(1234, "0123456789abcdef", session_string)
        client = source._client_factory()
        try:
            return client, repr(source)
        finally:
            # never connected: nothing to close on the network
            assert not client.is_connected()

    client, text = run(build())
    assert client.flood_sleep_threshold == 0
    assert isinstance(client.session, StringSession) and client.session.save() == session_string
    assert session_string not in text and "0123456789abcdef" not in text

    broken = TelethonSource(1234, "h", "not-a-session", log=lambda s: None)
    with pytest.raises(ConfigError, match="TELEGRAM_SESSION is not a valid"):
        run(collect(broken, CHANNEL, None, FetchContext(lambda *a: Path("x"), Path("."))))


def test_modules_do_not_import_telethon_at_import_time():
    code = (
        "import sys, databox.telegram.telethon_source, databox.telegram.login;"
        "sys.exit('telethon' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- login --------------------------------------------------------------------------
class FakeLoginClient:
    """Mimics ``TelegramClient(StringSession(), ...).start()`` for a user with 2FA."""

    def __init__(self, *, bot=False):
        self.bot = bot
        self.asked: dict[str, str] = {}
        self.disconnected = False
        self.session = self

    async def start(self, phone, password, *, code_callback, **kwargs):
        self.asked["phone"] = phone() if callable(phone) else phone
        self.asked["code"] = code_callback()
        self.asked["password"] = password()

    async def get_me(self):
        return types.User(id=1, bot=self.bot)

    def save(self):  # client.session.save()
        return "1FAKESESSIONSTRING=="

    def disconnect(self):
        self.disconnected = True


def test_create_string_session_returns_the_saved_string():
    client = FakeLoginClient()
    answers = iter(["+251911000000", "12345"])
    session = run(
        create_string_session(
            1234,
            "hash",
            input_fn=lambda prompt: next(answers),
            password_fn=lambda prompt: "secret",
            client_factory=lambda: client,
        )
    )
    assert session == "1FAKESESSIONSTRING=="
    assert client.asked == {"phone": "+251911000000", "code": "12345", "password": "secret"}
    assert client.disconnected


def test_create_string_session_refuses_bot_tokens():
    client = FakeLoginClient()
    with pytest.raises(ConfigError, match="bot token"):
        run(create_string_session(1, "h", phone="123456:ABC-def", client_factory=lambda: client))
    assert client.asked == {}
    with pytest.raises(ConfigError, match="BOT_METHOD_INVALID"):
        run(
            create_string_session(
                1,
                "h",
                input_fn=lambda prompt: "123456:ABC-def",
                password_fn=lambda prompt: "",
                client_factory=lambda: client,
            )
        )
    with pytest.raises(ConfigError, match="bot"):  # logged in, but as a bot
        run(
            create_string_session(
                1,
                "h",
                phone="+1555",
                input_fn=lambda prompt: "12345",
                password_fn=lambda prompt: "",
                client_factory=lambda: FakeLoginClient(bot=True),
            )
        )


def test_login_main_prints_the_session_line_and_instructions(capsys):
    answers = iter(["12345"])
    hashes = iter(["the-api-hash", "2fa-password"])
    code = login_main(
        ["--phone", "+251911000000"],
        env={"TELEGRAM_API_ID": "1234"},
        input_fn=lambda prompt: next(answers),
        password_fn=lambda prompt: next(hashes),
        client_factory=FakeLoginClient,
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "TELEGRAM_SESSION=1FAKESESSIONSTRING==\n"  # stdout holds only the line
    assert ".env" in err and "git-ignored" in err and "Never commit" in err


def test_login_main_rejects_a_non_numeric_api_id(capsys):
    code = login_main(
        [], env={"TELEGRAM_API_ID": "abc", "TELEGRAM_API_HASH": "h"}, client_factory=FakeLoginClient
    )
    assert code == 2
    assert "TELEGRAM_API_ID" in capsys.readouterr().err


# -- content model: media kinds -------------------------------------------------------
def _doc(mime: str, attributes: list, *, size: int = 2048, **media_flags):
    document = types.Document(
        id=4242,
        access_hash=1,
        file_reference=b"",
        date=T0,
        mime_type=mime,
        size=size,
        dc_id=2,
        attributes=attributes,
    )
    return types.MessageMediaDocument(document=document, **media_flags)


def _sticker(mime: str):
    return _doc(
        mime,
        [
            types.DocumentAttributeSticker(alt="😀", stickerset=types.InputStickerSetEmpty()),
            types.DocumentAttributeImageSize(w=512, h=512),
        ],
    )


def _answer(text: str, option: bytes, wrap: bool = True):
    return types.PollAnswer(
        text=types.TextWithEntities(text=text, entities=[]) if wrap else text, option=option
    )


def _poll(*, wrap: bool = True, with_results: bool = True, **flags):
    question = "Best painkiller?"
    poll = types.Poll(
        id=1,
        question=types.TextWithEntities(text=question, entities=[]) if wrap else question,
        answers=[_answer("Paracetamol", b"0", wrap), _answer("Ibuprofen", b"1", wrap)],
        hash=0,
        **flags,
    )
    results = (
        types.PollResults(
            results=[
                types.PollAnswerVoters(option=b"0", voters=7),
                types.PollAnswerVoters(option=b"1", voters=3, correct=True),
            ],
            total_voters=10,
        )
        if with_results
        else types.PollResults()
    )
    return types.MessageMediaPoll(poll=poll, results=results)


def _geo(lat=9.03, long=38.74):
    return types.GeoPoint(long=long, lat=lat, access_hash=1)


VOICE_WAVE = b"\x00\x01"
#: media -> (media_kind, media) the record must carry.
MEDIA_CASES = {
    "none": (None, "none", None),
    "photo": (types.MessageMediaPhoto(photo=_photo(1)), "photo", {"width": 640, "height": 480}),
    "video": (
        _doc(
            "video/mp4",
            [
                types.DocumentAttributeVideo(duration=12.6, w=1280, h=720, supports_streaming=True),
                types.DocumentAttributeFilename(file_name="clip.mp4"),
            ],
            size=3_500_000,
            video=True,
        ),
        "video",
        {
            "thumb_url": None,
            "duration": 13,
            "width": 1280,
            "height": 720,
            "file_name": "clip.mp4",
            "size": 3_500_000,
        },
    ),
    "round_video": (
        _doc(
            "video/mp4",
            [types.DocumentAttributeVideo(duration=7.0, w=384, h=384, round_message=True)],
            round=True,
        ),
        "round_video",
        {"thumb_url": None, "duration": 7},
    ),
    "gif": (
        _doc(
            "video/mp4",
            [
                types.DocumentAttributeAnimated(),
                types.DocumentAttributeVideo(duration=2.2, w=320, h=240, nosound=True),
                types.DocumentAttributeFilename(file_name="giphy.mp4"),
            ],
        ),
        "gif",
        {"thumb_url": None, "duration": 2, "width": 320, "height": 240},
    ),
    "voice": (
        _doc(
            "audio/ogg",
            [types.DocumentAttributeAudio(duration=31, voice=True, waveform=VOICE_WAVE)],
            size=40_000,
            voice=True,
        ),
        "voice",
        {"duration": 31, "size": 40_000},
    ),
    "audio": (
        _doc(
            "audio/mpeg",
            [
                types.DocumentAttributeAudio(duration=215, title="Tizita", performer="Mahmoud"),
                types.DocumentAttributeFilename(file_name="tizita.mp3"),
            ],
            size=5_000_000,
        ),
        "audio",
        {
            "title": "Tizita",
            "performer": "Mahmoud",
            "duration": 215,
            "file_name": "tizita.mp3",
            "size": 5_000_000,
        },
    ),
    "audio_untitled": (
        _doc("audio/mpeg", [types.DocumentAttributeAudio(duration=5)], size=9),
        "audio",
        {"title": None, "performer": None, "duration": 5, "file_name": None, "size": 9},
    ),
    "document": (
        _doc(
            "application/pdf",
            [types.DocumentAttributeFilename(file_name="price list.pdf")],
            size=123_456,
        ),
        "document",
        {
            "file_name": "price list.pdf",
            "size": 123_456,
            "size_text": None,
            "mime_type": "application/pdf",
        },
    ),
    "sticker_webp": (
        _sticker("image/webp"),
        "sticker",
        {"url": None, "format": "webp", "emoji": "😀"},
    ),
    "sticker_tgs": (
        _sticker("application/x-tgsticker"),
        "sticker",
        {"url": None, "format": "tgs", "emoji": "😀"},
    ),
    "sticker_webm": (
        _doc(
            "video/webm",
            [
                types.DocumentAttributeSticker(alt="🔥", stickerset=types.InputStickerSetEmpty()),
                types.DocumentAttributeVideo(duration=3.0, w=512, h=512),
            ],
        ),
        "sticker",
        {"url": None, "format": "webm", "emoji": "🔥"},
    ),
    "poll": (
        _poll(quiz=True),
        "poll",
        {
            "question": "Best painkiller?",
            "options": [
                {"text": "Paracetamol", "voters": 7, "percent": None},
                {"text": "Ibuprofen", "voters": 3, "percent": None},
            ],
            "quiz": True,
            "closed": False,
            "multiple_choice": False,
            "voters": 10,
        },
    ),
    "poll_plain_text_no_results": (  # Telethon < 1.37: question/answers are str
        _poll(wrap=False, with_results=False, closed=True, multiple_choice=True),
        "poll",
        {
            "question": "Best painkiller?",
            "options": [
                {"text": "Paracetamol", "voters": None, "percent": None},
                {"text": "Ibuprofen", "voters": None, "percent": None},
            ],
            "quiz": False,
            "closed": True,
            "multiple_choice": True,
            "voters": None,
        },
    ),
    "location": (
        types.MessageMediaGeo(geo=_geo()),
        "location",
        {"latitude": 9.03, "longitude": 38.74},
    ),
    "location_empty": (
        types.MessageMediaGeo(geo=types.GeoPointEmpty()),
        "location",
        {"latitude": None, "longitude": None},
    ),
    "live_location": (
        types.MessageMediaGeoLive(geo=_geo(8.5, 39.2), period=900),
        "live_location",
        {"latitude": 8.5, "longitude": 39.2},
    ),
    "venue": (
        types.MessageMediaVenue(
            geo=_geo(),
            title="Kenema Pharmacy",
            address="Churchill Ave, Addis Ababa",
            provider="foursquare",
            venue_id="abc",
            venue_type="",
        ),
        "venue",
        {
            "latitude": 9.03,
            "longitude": 38.74,
            "title": "Kenema Pharmacy",
            "address": "Churchill Ave, Addis Ababa",
        },
    ),
    "contact": (
        types.MessageMediaContact(
            phone_number="251911000000", first_name="Abebe", last_name="", vcard="", user_id=0
        ),
        "contact",
        {"name": "Abebe", "phone": "+251911000000"},
    ),
    "unsupported": (types.MessageMediaUnsupported(), "unsupported", {}),
    "dice": (types.MessageMediaDice(value=4, emoticon="🎲"), "other", {"type": "MessageMediaDice"}),
    "game": (
        types.MessageMediaGame(
            game=types.Game(
                id=1, access_hash=1, short_name="g", title="G", description="", photo=_photo(2)
            )
        ),
        "other",
        {"type": "MessageMediaGame"},
    ),
    "invoice": (
        types.MessageMediaInvoice(
            title="Order", description="", currency="ETB", total_amount=100, start_param=""
        ),
        "other",
        {"type": "MessageMediaInvoice"},
    ),
    "story": (
        types.MessageMediaStory(peer=types.PeerChannel(channel_id=777), id=5),
        "other",
        {"type": "MessageMediaStory"},
    ),
    "giveaway": (
        types.MessageMediaGiveaway(channels=[777], quantity=3, until_date=T0),
        "other",
        {"type": "MessageMediaGiveaway"},
    ),
}


@pytest.mark.parametrize("case", list(MEDIA_CASES))
def test_media_kind_and_fields(ctx, coco_photos, case):
    media, kind, expected = MEDIA_CASES[case]
    client = FakeClient({CHANNEL: [post(1, text="", media=media)]}, photos=coco_photos)
    source, _ = make_source(client)
    (m,) = run(collect(source, CHANNEL, None, ctx))[0]

    assert (m.message_type, m.action) == ("post", None)
    assert m.media_kind == kind
    assert m.media == expected
    assert m.has_media is (kind != "none")
    assert m.link_preview is None and m.album_ids == [] and m.reply_to_message_id is None
    if kind == "photo":
        assert (m.photo_status, m.photo_errors) == ("ok", [])
        assert m.image_paths == [f"raw/images/{CHANNEL}/1.jpg"]
    else:
        assert (m.photo_status, m.photo_errors, m.image_paths) == (None, [], [])
        assert client.downloads == []
    assert_round_trips(m)


def assert_round_trips(m) -> None:
    record = m.to_record()
    assert json.loads(orjson.dumps(record)) == json.loads(json.dumps(record))
    assert TelegramMessage.from_record(json.loads(orjson.dumps(record))).to_record() == record


def test_link_preview_is_not_media(ctx, coco_photos):
    page = types.WebPage(
        id=1,
        url="https://example.org/article",
        display_url="example.org/article",
        hash=0,
        site_name="Example",
        title="Vitamin D",
        description="First line\nSecond line",
        photo=_photo(99),
    )
    history = [
        post(1, text="https://example.org/article", media=types.MessageMediaWebPage(webpage=page)),
        post(2, media=types.MessageMediaWebPage(webpage=types.WebPagePending(id=2, date=T0))),
    ]
    client = FakeClient({CHANNEL: history}, photos=coco_photos)
    source, _ = make_source(client)
    m, pending = run(collect(source, CHANNEL, None, ctx))[0]
    assert (m.media_kind, m.media, m.has_media, m.photo_status) == ("none", None, False, None)
    assert m.link_preview == {
        "url": "https://example.org/article",
        "site_name": "Example",
        "title": "Vitamin D",
        "description": "First line\nSecond line",
        "image_url": None,
    }
    assert pending.link_preview is None and pending.media_kind == "none"
    assert client.downloads == []  # the preview's picture is not the post's
    assert_round_trips(m)


def test_album_members_share_ids_and_items(ctx, coco_photos):
    history = [
        post(1, text="before"),
        post(2, photo=True, grouped_id=500, text="Album caption"),
        post(3, grouped_id=500, text="", media=MEDIA_CASES["video"][0]),
        post(4, photo=True, grouped_id=500, text=""),
        post(5, photo=True, grouped_id=600, text=""),
        post(6, photo=True, grouped_id=600, text=""),
        post(7, text="after"),
    ]
    client = FakeClient({CHANNEL: history}, photos=coco_photos)
    source, _ = make_source(client, batch_size=2)
    batches = run(collect(source, CHANNEL, None, ctx))
    assert_albums_whole(batches)
    by_id = {m.message_id: m for b in batches for m in b}

    items = [
        {"kind": "photo", "thumb_url": None, "duration": None},
        {"kind": "video", "thumb_url": None, "duration": 13},
        {"kind": "photo", "thumb_url": None, "duration": None},
    ]
    for mid in (2, 3, 4):
        m = by_id[mid]
        assert (m.media_kind, m.has_media, m.album_ids) == ("album", True, [2, 3, 4])
        assert m.media == {"items": items}
        assert_round_trips(m)
    assert by_id[2].text == "Album caption"
    assert [by_id[i].photo_status for i in (2, 3, 4)] == ["ok", None, "ok"]
    assert by_id[3].raw["album_member"]["media"] == MEDIA_CASES["video"][2]
    for mid in (5, 6):
        assert by_id[mid].album_ids == [5, 6] and len(by_id[mid].media["items"]) == 2
    assert by_id[1].album_ids == [] and by_id[7].album_ids == []
    assert by_id[1].media_kind == "none"


# -- service messages ---------------------------------------------------------------
def service_msg(mid: int, action, **kw):
    return types.MessageService(
        id=mid,
        peer_id=types.PeerChannel(channel_id=777),
        date=T0 + timedelta(minutes=mid),
        action=action,
        post=True,
        **kw,
    )


SERVICE_CASES = [
    (types.MessageActionChannelCreate(title="Pharma Chan"), {}, "channel_created", None, None),
    (
        types.MessageActionChatEditTitle(title="Pharma Channel ✨"),
        {},
        "title_changed",
        None,
        "Pharma Channel ✨",
    ),
    (types.MessageActionChatEditPhoto(photo=_photo(77)), {}, "photo_changed", None, None),
    (types.MessageActionChatDeletePhoto(), {}, "photo_removed", None, None),
    (
        types.MessageActionPinMessage(),
        {"reply_to": types.MessageReplyHeader(reply_to_msg_id=3)},
        "pinned",
        3,
        None,
    ),
    (types.MessageActionHistoryClear(), {}, "other", None, None),
]


@pytest.mark.parametrize(("action", "kw", "expected", "pinned", "title"), SERVICE_CASES)
def test_service_messages_are_kept_with_their_action(
    ctx, coco_photos, action, kw, expected, pinned, title
):
    history = [post(3, text="pinned later"), service_msg(4, action, **kw), post(5)]
    client = FakeClient({CHANNEL: history}, photos=coco_photos)
    source, _ = make_source(client)
    (_, s, after) = run(collect(source, CHANNEL, None, ctx))[0]

    assert (s.message_id, s.message_type, s.action) == (4, "service", expected)
    assert (s.pinned_message_id, s.new_title) == (pinned, title)
    assert s.text is None and not s.is_post
    assert (s.media_kind, s.media, s.has_media, s.links, s.link_preview) == (
        "none",
        None,
        False,
        [],
        None,
    )
    assert s.reply_to_message_id is None  # a pin's target is pinned_message_id, not a reply
    assert (s.photo_status, s.image_paths, client.downloads) == (None, [], [])
    assert s.raw["action"]["_"] == type(action).__name__
    if expected == "photo_changed":
        assert s.raw["action"]["photo_id"] == 77
    assert after.message_type == "post" and after.action is None
    assert_round_trips(s)


def test_deleted_messages_are_skipped(ctx):
    history = [
        post(1),
        types.MessageEmpty(id=2, peer_id=types.PeerChannel(channel_id=777)),
        post(3),
    ]
    client = FakeClient({CHANNEL: history})
    source, _ = make_source(client)
    assert ids(run(collect(source, CHANNEL, None, ctx))) == [1, 3]


def test_flood_wait_with_service_messages_never_duplicates_or_skips(ctx, coco_photos):
    pin = types.MessageActionPinMessage()
    history = []
    for i in range(1, 61):
        if i % 10 == 0:
            history.append(
                service_msg(i, pin, reply_to=types.MessageReplyHeader(reply_to_msg_id=i - 1))
            )
        elif i == 25:
            history.append(types.MessageEmpty(id=i, peer_id=types.PeerChannel(channel_id=777)))
        else:
            history.append(post(i, photo=i in (11, 31)))
    floods = {("iter", 10): 4, ("iter", 11): 5, ("download", 31): 6, ("iter", 26): 7}
    client = FakeClient({CHANNEL: history}, photos=coco_photos, floods=floods)
    source, slept = make_source(client, batch_size=7)
    batches = run(collect(source, CHANNEL, None, ctx))

    assert slept == [4, 5, 7, 6]
    assert ids(batches) == [i for i in range(1, 61) if i != 25]
    msgs = {m.message_id: m for b in batches for m in b}
    assert [i for i, m in msgs.items() if m.message_type == "service"] == [10, 20, 30, 40, 50, 60]
    assert all(msgs[i].pinned_message_id == i - 1 for i in (10, 20, 30, 40, 50, 60))
    # Resumed strictly after the last message taken: 9 (flood before service 10), 10
    # (the service message counts as taken), 25 (the skipped deleted one), 30 (the
    # download of 31 flooded).
    assert [c[1] for c in client.iter_calls] == [0, 9, 10, 25, 30]
    assert client.downloads == [11, 31]


# -- reply, links, photo status ---------------------------------------------------------
def test_reply_to_message_id(ctx):
    history = [
        post(1),
        post(2, reply_to=types.MessageReplyHeader(reply_to_msg_id=1)),
        post(
            3,
            reply_to=types.MessageReplyHeader(
                reply_to_msg_id=99, reply_to_peer_id=types.PeerChannel(channel_id=5)
            ),
        ),
    ]
    client = FakeClient({CHANNEL: history})
    source, _ = make_source(client)
    a, b, c = run(collect(source, CHANNEL, None, ctx))[0]
    assert (a.reply_to_message_id, b.reply_to_message_id) == (None, 1)
    # A reply to another chat's message: that id is not a message of this channel.
    assert c.reply_to_message_id is None and c.raw["reply_to_msg_id"] == 99
    assert c.raw["reply_to_peer"] == {"_": "PeerChannel", "channel_id": 5}


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def test_links_use_utf16_offsets_and_keep_text_order(ctx):
    text = (
        "💊🇪🇹 see example.org/a, https://x.y/z and @pharma_et; ask Abebe at "
        "info@pharma.et #vitamins [price list]"
    )

    def entity(kind, fragment, **kw):
        start = text.index(fragment)
        return kind(offset=_u16(text[:start]), length=_u16(fragment), **kw)

    entities = [
        entity(types.MessageEntityTextUrl, "price list", url="https://example.org/prices"),
        entity(types.MessageEntityUrl, "example.org/a"),
        entity(types.MessageEntityBold, "see"),
        entity(types.MessageEntityUrl, "https://x.y/z"),
        entity(types.MessageEntityMention, "@pharma_et"),
        entity(types.MessageEntityMentionName, "Abebe", user_id=5),
        entity(types.MessageEntityEmail, "info@pharma.et"),
        entity(types.MessageEntityHashtag, "#vitamins"),
    ]
    # 💊 and 🇪🇹 (two regional indicators) are astral: 2 + 4 UTF-16 units, 3 code points.
    assert entities[1].offset == 11 and text.index("example.org/a") == 8
    client = FakeClient({CHANNEL: [post(1, text=text, entities=entities)]})
    source, _ = make_source(client)
    (m,) = run(collect(source, CHANNEL, None, ctx))[0]
    assert m.links == [
        {"type": "url", "label": "example.org/a", "url": "http://example.org/a"},
        {"type": "url", "label": "https://x.y/z", "url": "https://x.y/z"},
        {"type": "mention", "label": "@pharma_et", "url": "https://t.me/pharma_et"},
        {"type": "mention", "label": "Abebe", "url": None},
        {"type": "email", "label": "info@pharma.et", "url": "mailto:info@pharma.et"},
        {"type": "hashtag", "label": "#vitamins", "url": None},
        {"type": "text_url", "label": "price list", "url": "https://example.org/prices"},
    ]
    assert m.raw["entities"] == 8
    assert_round_trips(m)


def test_failed_photo_download_keeps_the_message(lake, ctx, logs, coco_photos):
    history = [
        post(1, photo=True),
        post(2, photo=True, text="boom"),
        post(3, photo=True, text="nothing"),
        post(4, media=types.MessageMediaPhoto(photo=types.PhotoEmpty(id=4)), text="expired"),
        post(5, text="no photo"),
    ]
    failures = {2: ConnectionError("connection reset"), 3: None}
    client = FakeClient({CHANNEL: history}, photos=coco_photos, failures=failures)
    source, _ = make_source(client)
    msgs = {m.message_id: m for b in run(collect(source, CHANNEL, None, ctx)) for m in b}

    assert sorted(msgs) == [1, 2, 3, 4, 5]
    assert (msgs[1].photo_status, msgs[1].photo_errors) == ("ok", [])
    assert msgs[2].photo_status == "failed" and msgs[2].image_paths == []
    assert not (lake.root / "raw" / "images" / CHANNEL / "2.jpg").exists()  # no partial file
    assert msgs[2].photo_errors == [
        {"index": 0, "url": None, "error": "ConnectionError: connection reset"}
    ]
    for mid in (3, 4):
        assert msgs[mid].photo_status == "failed" and msgs[mid].image_paths == []
        assert msgs[mid].photo_errors == [
            {"index": 0, "url": None, "error": "Telegram returned no downloadable photo size"}
        ]
    assert msgs[4].media == {"width": None, "height": None}
    assert all(msgs[i].media_kind == "photo" and msgs[i].has_media for i in (1, 2, 3, 4))
    assert (msgs[5].photo_status, msgs[5].photo_errors) == (None, [])
    assert any("message 2 not downloaded" in line for line in logs)
    for m in msgs.values():
        assert_round_trips(m)
