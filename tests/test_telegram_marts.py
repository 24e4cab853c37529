"""The Telegram SQLMesh project (``transform/telegram``) on known raw rows, on DuckDB and
PostgreSQL: every model's rows and keys, the refresh that restates changed days only,
idempotent re-runs, the tokeniser, a lexicon change, and both projects on one warehouse.

One warehouse per engine for the whole module (a plan costs seconds); the tests run in
file order against it, later ones building on what earlier ones changed."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
import yaml

from databox.enrich.load_detections import IMAGE_DETECTIONS, IMAGE_ENRICHMENT
from databox.telegram.load_schema import RAW_MESSAGES, RAW_TABLES
from databox.transform.runner import EBIRD_PROJECT_DIR, TELEGRAM_PROJECT_DIR, SqlMeshRunner
from databox.transform.telegram import terms
from databox.transform.telegram_refresh import refresh_telegram_marts
from databox.warehouse import connect
from tests.conftest import create_database, drop_database

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*json_encoders.*:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:pandas only supports SQLAlchemy:UserWarning"),
]

UTC = timezone.utc
T0 = datetime(2024, 3, 13, 6, 0, tzinfo=UTC)  # when the raw rows were first loaded
D4, D5, D10, D12 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 10), date(2024, 3, 12)

# channel, id, date, text, views, image paths, type, new_title, media_kind
MESSAGES = [
    ("chemed", 1, "2024-03-01T09:00:00+00:00", "Channel created", None, [], "service", None, None),
    ("chemed", 2, "2024-03-02T09:00:00+00:00", "renamed", None, [], "service", "CheMed", None),
    (
        "chemed",
        3,
        "2024-03-06T09:00:00+00:00",
        "renamed",
        None,
        [],
        "service",
        "CheMed Pharmacy",
        None,
    ),
    (
        "chemed",
        10,
        "2024-03-04T08:00:00+00:00",
        "  Paracetamol  500mg\n\n and Vitamin C ",
        100,
        ["c/10a.jpg", "c/10b.jpg"],
        None,
        None,
        "album",
    ),
    (
        "chemed",
        11,
        "2024-03-04T12:00:00+00:00",
        "ፓራሲታሞል፣ቫይታሚን ሲ። ዋጋ 100 ብር",
        40,
        [],
        "post",
        None,
        None,
    ),
    # 01:30 at UTC+3 is 22:30 UTC on the 4th... of the 5th: the UTC date counts.
    (
        "chemed",
        12,
        "2024-03-06T01:30:00+03:00",
        "Blood-pressure monitor (Omron)",
        10,
        ["c/12.jpg"],
        None,
        None,
        "photo",
    ),
    ("chemed", 13, "2024-03-10T10:00:00+00:00", "   ", 7, [], None, None, None),
    (
        "lobelia",
        20,
        "2024-03-05T09:00:00+00:00",
        "CeraVe cream ✨ ክሬም",
        30,
        ["l/20.jpg"],
        None,
        None,
        "photo",
    ),
    (
        "lobelia",
        21,
        "2024-03-12T09:00:00+00:00",
        "Sunscreen SPF 50+ and cream",
        None,
        [],
        None,
        None,
        None,
    ),
    ("lobelia", 22, "2024-03-12T10:00:00+00:00", "pinned", None, [], "service", None, None),
]
POSTS = {(c, i) for c, i, _, _, _, _, kind, _, _ in MESSAGES if kind != "service"}
POST_DATE = {("chemed", 10): D4, ("chemed", 11): D4, ("chemed", 12): D5, ("chemed", 13): D10,
             ("lobelia", 20): D5, ("lobelia", 21): D12}  # fmt: skip
# image, channel, id, model version, processed day, status, category, boxes (class, conf)
IMAGES = [
    ("c/10a.jpg", "chemed", 10, "yolo@1", 13, "ok", "lifestyle", [("person", 0.9)]),
    (
        "c/10b.jpg",
        "chemed",
        10,
        "yolo@1",
        13,
        "ok",
        "promotional",
        [("bottle", 0.8), ("bottle", 0.6)],
    ),
    ("c/12.jpg", "chemed", 12, "yolo@1", 13, "error", None, []),
    # Processed by two versions: the newer (yolo@2) is current, yolo@1's box is ignored.
    ("l/20.jpg", "lobelia", 20, "yolo@1", 13, "ok", "other", [("cup", 0.5)]),
    ("l/20.jpg", "lobelia", 20, "yolo@2", 14, "ok", "product_display", [("bottle", 0.7)]),
]

MODELS = {  # model: its key columns
    "telegram_staging.stg_telegram_messages": ("channel", "message_id"),
    "telegram_staging.stg_image_enrichment": ("image_path",),
    "telegram_staging.stg_image_detections": ("image_path", "box_index"),
    "telegram_marts.dim_channels": ("channel",),
    "telegram_marts.dim_dates": ("date_key",),
    "telegram_marts.fct_messages": ("channel", "message_id"),
    "telegram_marts.fct_image_detections": ("image_path", "box_index"),
    "telegram_marts.mart_daily_channel_activity": ("channel", "message_date"),
    "telegram_marts.mart_visual_content": ("channel", "image_category"),
    "telegram_marts.mart_product_terms_weekly": ("week_start", "term"),
    "telegram_marts.mart_top_objects": ("class_name",),
}
DAILY = [m for m in MODELS if "fct_" in m or "daily" in m or "stg_telegram" in m]
#: Every model's rows after the first build, per engine: both must agree.
FIRST_BUILD: dict[str, dict] = {}


def message_row(c, i, when, text, views, paths, kind, title, media, loaded_at=T0):
    values = {
        "channel": c, "message_id": i, "date": datetime.fromisoformat(when), "text": text,
        "views": views, "forwards": 0 if views is not None else None, "replies": None,
        "has_media": bool(paths), "image_paths": json.dumps(paths), "scraped_at": T0,
        "message_type": kind, "new_title": title, "media_kind": media,
        "payload": json.dumps({"id": i}), "source_file": f"{c}.json", "loaded_at": loaded_at,
    }  # fmt: skip
    return tuple(values.get(col) for col in RAW_MESSAGES.column_names)


def fill_raw(url: str) -> None:
    image_cols = IMAGE_ENRICHMENT.column_names
    box_cols = IMAGE_DETECTIONS.column_names
    images, boxes = [], []
    for path, c, i, version, day, status, category, found in IMAGES:
        at = datetime(2024, 3, day, tzinfo=UTC)
        images.append(dict(channel=c, message_id=i, image_path=path, image_sha256="s",
                           model_version=version, status=status, category=category,
                           object_count=len(found), image_width=100, image_height=200,
                           processed_at=at, loaded_at=T0))  # fmt: skip
        for n, (name, conf) in enumerate(found):
            boxes.append(dict(channel=c, message_id=i, image_path=path, image_sha256="s",
                              model_version=version, box_index=n, class_id=n, class_name=name,
                              confidence=conf, x1=0, y1=0, x2=50, y2=40, loaded_at=T0))  # fmt: skip
    with connect(url).transaction() as tx:
        tx.ensure_tables(*RAW_TABLES, IMAGE_DETECTIONS, IMAGE_ENRICHMENT)
        tx.bulk_upsert(
            RAW_MESSAGES.name,
            RAW_MESSAGES.column_names,
            [message_row(*m) for m in MESSAGES],
            RAW_MESSAGES.primary_key,
        )
        for table, cols, rows in ((IMAGE_ENRICHMENT, image_cols, images),
                                  (IMAGE_DETECTIONS, box_cols, boxes)):  # fmt: skip
            tx.bulk_upsert(table.name, cols, [tuple(r.get(c) for c in cols) for r in rows],
                           table.primary_key)  # fmt: skip


def rows(url: str, sql: str, params=None) -> list[tuple]:
    with connect(url).session() as s:
        return s.fetchall(sql, params)


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every model's rows, floats rounded (the engines print doubles differently)."""
    out = {}
    with connect(url).session() as session:
        got_all = {model: session.fetchall(f"SELECT * FROM {model}") for model in MODELS}
    for model, got in got_all.items():
        out[model] = sorted(
            (tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in got), key=repr
        )
    return out


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def wh(request, tmp_path_factory):
    """A warehouse with the raw rows, built by a first refresh."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('tg') / 'warehouse.duckdb'}"
        drop = None
    else:
        server = request.getfixturevalue("pg_server")
        url = create_database(server)

        def drop():
            drop_database(server, url)

    fill_raw(url)
    cache = tmp_path_factory.mktemp("sqlmesh-cache")
    runner = SqlMeshRunner(url, TELEGRAM_PROJECT_DIR, cache_dir=cache)
    first = refresh_telegram_marts(url, runner=runner)
    try:
        yield {"url": url, "engine": request.param, "runner": runner, "first": first,
               "cache": cache}  # fmt: skip
    finally:
        runner.close()
        if drop:
            drop()


# -- no warehouse -----------------------------------------------------------------------


def test_tokenizer_latin_and_ethiopic():
    assert terms.tokenize("Vitamin-C 1000mg, N95!") == ["vitamin", "c", "1000mg", "n95"]
    # Ethiopic punctuation (፣ ። ፡ ፤) separates words; a change of script does too.
    assert terms.tokenize("ፓራሲታሞል፣ቫይታሚን ሲ።ዋጋ፡100፤ብር") == [
        "ፓራሲታሞል", "ቫይታሚን", "ሲ", "ዋጋ", "100", "ብር"
    ]  # fmt: skip
    assert terms.tokenize("CeraVeክሬም ✨ Crème") == ["cerave", "ክሬም", "crème"]
    assert terms.tokenize("the cream and ነው ክሬም", terms.stopwords()) == ["cream", "ክሬም"]
    lexicon = terms.load_lexicon()
    found = terms.find_terms(terms.tokenize("Blood-pressure monitor, ቫይታሚን ሲ"), lexicon)
    assert found == ["blood pressure monitor", "vitamin c"]


# -- one warehouse per engine -----------------------------------------------------------


def test_every_model_built_with_its_keys(wh):
    url = wh["url"]
    assert wh["first"].changed_dates == tuple(
        sorted({*POST_DATE.values(), date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 6)})
    )
    counts = {m: rows(url, f"SELECT count(*) FROM {m}")[0][0] for m in MODELS}
    assert counts == {
        "telegram_staging.stg_telegram_messages": 6,  # service messages left out
        "telegram_staging.stg_image_enrichment": 4,  # one row per image, current version
        "telegram_staging.stg_image_detections": 4,  # yolo@1's box of l/20.jpg left out
        "telegram_marts.dim_channels": 2,
        "telegram_marts.dim_dates": 9,  # 2024-03-04 .. 2024-03-12, empty days included
        "telegram_marts.fct_messages": 6,
        "telegram_marts.fct_image_detections": 4,
        "telegram_marts.mart_daily_channel_activity": 5,
        "telegram_marts.mart_visual_content": 3,
        "telegram_marts.mart_product_terms_weekly": 8,
        "telegram_marts.mart_top_objects": 2,
    }
    for model, key in MODELS.items():
        cols = ", ".join(key)
        dupes = rows(url, f"SELECT {cols} FROM {model} GROUP BY {cols} HAVING count(*) > 1")
        assert dupes == [], model
    keys = set(rows(url, "SELECT channel, message_id FROM telegram_marts.fct_messages"))
    assert keys == POSTS
    # The audits are blocking: the plan would have failed on a bad row. Every audit a
    # model declares ran (staging's value checks, each mart's grain and references).
    models = wh["runner"].context().models.values()
    declared = sum(len(m.audits) for m in models if not m.kind.is_external)
    assert declared >= 25
    assert wh["first"].summary.audits_passed >= declared
    FIRST_BUILD[wh["engine"]] = snapshot(url)
    if len(FIRST_BUILD) == 2:
        assert FIRST_BUILD["duckdb"] == FIRST_BUILD["postgres"]


def test_staging_and_dimensions(wh):
    url = wh["url"]
    got = {
        (c, i): (d, t, n, img, k)
        for c, i, d, t, n, img, k in rows(
            url,
            "SELECT channel, message_id, message_date, text, text_length, image_count, "
            "media_kind FROM telegram_staging.stg_telegram_messages",
        )
    }
    assert {k: v[0] for k, v in got.items()} == POST_DATE
    assert got["chemed", 10][1:] == ("Paracetamol 500mg and Vitamin C", 31, 2, "album")
    assert got["chemed", 11][1:] == ("ፓራሲታሞል፣ቫይታሚን ሲ። ዋጋ 100 ብር", 25, 0, "none")
    assert got["chemed", 13][1:] == (None, 0, 0, "none")
    assert rows(
        url,
        "SELECT channel, title, post_count, days_active FROM telegram_marts.dim_channels "
        "ORDER BY channel",
    ) == [("chemed", "CheMed Pharmacy", 4, 3), ("lobelia", "lobelia", 2, 2)]
    assert rows(
        url,
        "SELECT date_key, week_start, day_of_week, iso_week, is_weekend "
        "FROM telegram_marts.dim_dates WHERE date = '2024-03-10'",
    ) == [(20240310, D4, 7, 10, True)]


def test_facts_and_marts(wh):
    url = wh["url"]
    assert rows(
        url,
        "SELECT channel, message_id, date_key, image_category, detected_object_count "
        "FROM telegram_marts.fct_messages ORDER BY channel, message_id",
    ) == [
        ("chemed", 10, 20240304, "promotional", 3),  # promotional beats lifestyle
        ("chemed", 11, 20240304, None, 0),
        ("chemed", 12, 20240305, None, 0),  # its only image failed: no category
        ("chemed", 13, 20240310, None, 0),
        ("lobelia", 20, 20240305, "product_display", 1),  # yolo@2's verdict, not yolo@1's
        ("lobelia", 21, 20240312, None, 0),
    ]
    assert rows(
        url,
        "SELECT message_date, posts, views, avg_views, posts_with_images, image_share "
        "FROM telegram_marts.mart_daily_channel_activity WHERE channel = 'chemed' "
        "ORDER BY message_date",
    ) == [(D4, 2, 140, 70.0, 1, 0.5), (D5, 1, 10, 10.0, 1, 1.0), (D10, 1, 7, 7.0, 0, 0.0)]
    assert rows(
        url,
        "SELECT channel, image_category, images, posts, share_of_channel_images "
        "FROM telegram_marts.mart_visual_content ORDER BY 1, 2",
    ) == [
        ("chemed", "lifestyle", 1, 1, 0.5),
        ("chemed", "promotional", 1, 1, 0.5),
        ("lobelia", "product_display", 1, 1, 1.0),
    ]
    assert rows(
        url,
        "SELECT class_name, detections, images, messages, channels, avg_confidence "
        "FROM telegram_marts.mart_top_objects ORDER BY 1",
    ) == [("bottle", 3, 2, 2, 2, 0.7), ("person", 1, 1, 1, 1, 0.9)]
    shares = rows(url, "SELECT box_area_share FROM telegram_staging.stg_image_detections")
    assert {s for (s,) in shares} == {0.1}  # 50 x 40 px of 100 x 200 px
    week = rows(
        url,
        "SELECT term, mentions, messages, channels, rank FROM "
        "telegram_marts.mart_product_terms_weekly WHERE week_start = '2024-03-04' ORDER BY rank",
    )
    # Amharic and English spellings count as one term; ties go to more messages, then
    # to the term.
    assert week == [
        ("paracetamol", 2, 2, 1, 1),  # "Paracetamol" and "ፓራሲታሞል"
        ("vitamin c", 2, 2, 1, 2),  # "Vitamin C" and "ቫይታሚን ሲ"
        ("cream", 2, 1, 1, 3),  # "cream" and "ክሬም" in one post: fewer messages
        ("blood pressure monitor", 1, 1, 1, 4),
        ("cerave", 1, 1, 1, 5),
        ("omron", 1, 1, 1, 6),
    ]


@pytest.mark.parametrize(
    "wh", ["duckdb"], indirect=True
)  # unit tests run on an in-memory DuckDB whatever the warehouse
def test_sqlmesh_unit_tests_pass(wh):
    result = wh["runner"].run_tests()
    assert result.ok, result.report
    assert result.tests_run >= 2


def ebird_views(url: str) -> set[str]:
    got = rows(
        url,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema IN ('staging', 'marts')",
    )
    return {name for (name,) in got}


@pytest.mark.parametrize(
    "wh", ["duckdb"], indirect=True
)  # the state schemas are engine-independent; one engine is enough
def test_ebird_project_beside_telegram(wh, tmp_path):
    """Both projects on one warehouse: each keeps its own state schema, so neither
    plan sees the other's models as removed."""
    url = wh["url"]
    before = snapshot(url)
    declared = yaml.safe_load((EBIRD_PROJECT_DIR / "external_models.yaml").read_text())
    with connect(url).transaction() as tx:  # eBird's raw tables, empty
        tx.execute("CREATE SCHEMA IF NOT EXISTS raw_ebird")
        for table in declared:
            cols = ", ".join(f"{name} {kind}" for name, kind in table["columns"].items())
            tx.execute(f"CREATE TABLE {table['name']} ({cols})")
    # Two eBird models are enough to show the state schemas apart (a full plan: 6 s).
    with SqlMeshRunner(url, EBIRD_PROJECT_DIR, cache_dir=tmp_path) as ebird:
        ebird.plan_and_apply(select_models=["+marts.dim_species"], refresh=False)
    assert "marts.dim_species" in ebird_views(url)
    assert snapshot(url) == before  # the Telegram tables survived the eBird plan


def test_refresh_without_raw_changes_changes_nothing(wh):
    url = wh["url"]
    before = snapshot(url)
    watermark = rows(url, "SELECT * FROM sqlmesh_telegram.databox_watermark")
    ebird = ebird_views(url)
    result = refresh_telegram_marts(url, runner=wh["runner"])
    assert not result.restated and result.changed_dates == ()
    assert result.summary.changed_models == ()
    # Nothing changed, raw rows or project: SQLMesh did not run at all.
    assert result.skipped and result.summary.evaluated == {}
    assert snapshot(url) == before
    assert rows(url, "SELECT * FROM sqlmesh_telegram.databox_watermark") == watermark
    assert ebird_views(url) == ebird  # the eBird tables (DuckDB) survived the Telegram plan


def test_late_edit_recomputes_that_day_only(wh):
    """An edited post and a re-enriched image, both of 2024-03-04: that day is
    restated, every other day's rows stay as they were."""
    url = wh["url"]
    before = snapshot(url)
    later = datetime.now(UTC)
    with connect(url).transaction() as tx:
        tx.execute(
            "UPDATE raw.telegram_messages SET text = %s, views = 500, edit_date = %s, "
            "loaded_at = %s WHERE channel = 'chemed' AND message_id = 11",
            ("ibuprofen now", later, later),
        )
        tx.execute(
            "UPDATE raw.image_enrichment SET category = 'other', loaded_at = %s "
            "WHERE image_path = 'c/10b.jpg'",
            (later,),
        )
    result = refresh_telegram_marts(url, runner=wh["runner"])
    assert (result.changed_dates, result.start, result.end) == ((D4,), D4, D4)
    assert result.watermark_after > result.watermark_before
    after = snapshot(url)
    for model in DAILY:
        assert [r for r in before[model] if D4 not in r] == [
            r for r in after[model] if D4 not in r
        ], f"{model}: rows of another day changed"
    changed = {m for m in MODELS if before[m] != after[m]}
    assert {
        "telegram_staging.stg_telegram_messages",
        "telegram_marts.fct_messages",
        "telegram_marts.mart_daily_channel_activity",
        "telegram_marts.mart_product_terms_weekly",
    } <= changed
    assert "telegram_marts.fct_image_detections" not in changed
    assert rows(
        url,
        "SELECT message_id, views, image_category FROM telegram_marts.fct_messages "
        "WHERE message_date = '2024-03-04' ORDER BY 1",
    ) == [(10, 100, "lifestyle"), (11, 500, None)]
    assert rows(
        url,
        "SELECT views FROM telegram_marts.mart_daily_channel_activity "
        "WHERE channel = 'chemed' AND message_date = '2024-03-04'",
    ) == [(600,)]


@pytest.mark.parametrize(
    "wh", ["duckdb"], indirect=True
)  # the fingerprint is engine-independent; one engine is enough
def test_lexicon_change_rebuilds_terms(wh, tmp_path, monkeypatch):
    url = wh["url"]
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("# test lexicon\nibuprofen\nface cream | cream | ክሬም\n", encoding="utf-8")
    monkeypatch.setenv(terms.LEXICON_ENV, str(lexicon))
    # A new Context: the digests are read when the configuration is built.
    with SqlMeshRunner(url, TELEGRAM_PROJECT_DIR, cache_dir=wh["cache"]) as runner:
        summary = runner.plan_and_apply(refresh=False)
    assert summary.changed_models == ("telegram_marts.mart_product_terms_weekly",)
    got = rows(
        url, "SELECT week_start, term, mentions FROM telegram_marts.mart_product_terms_weekly"
    )
    assert sorted(got) == [
        (D4, "face cream", 2),
        (D4, "ibuprofen", 1),
        (date(2024, 3, 11), "face cream", 1),
    ]
