"""``databox report``: the HTML report over both pipelines' marts.

The marts are created here with plain SQL (the SQLMesh models are another job's), with
known rows, so the headline figures and tables can be checked exactly. One report is
built per module and shared by the HTML, the browser and the markdown checks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from databox.cli import main
from databox.report import ReportUnavailable, build_report, charts_markdown
from databox.warehouse import connect
from tests.conftest import REPO_ROOT, require_service

ALL_SECTIONS = ("daily_activity", "visual_content", "product_terms", "top_objects",
                "species_counts", "notable_sightings")  # fmt: skip
AMHARIC = "ፓራሲታሞል"  # "paracetamol", as the channels write it
NOW = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)
ARTIFACTS = REPO_ROOT / "test-artifacts" / "report"

DDL = {
    "telegram_marts.mart_daily_channel_activity": "channel TEXT, message_date DATE, posts BIGINT, "
    "views BIGINT, avg_views DOUBLE PRECISION, forwards BIGINT, posts_with_images BIGINT, "
    "image_share DOUBLE PRECISION",
    "telegram_marts.mart_visual_content": "channel TEXT, image_category TEXT, images BIGINT, "
    "posts BIGINT, share_of_channel_images DOUBLE PRECISION",
    "telegram_marts.mart_product_terms_weekly": "week_start DATE, term TEXT, mentions BIGINT, "
    "messages BIGINT, channels BIGINT, rank BIGINT",
    "telegram_marts.mart_top_objects": "class_name TEXT, detections BIGINT, images BIGINT, "
    "messages BIGINT, channels BIGINT, avg_confidence DOUBLE PRECISION",
    "marts.fct_daily_species_counts": "region_code TEXT, obs_date DATE, species_code TEXT, "
    "com_name TEXT, checklists BIGINT, observations BIGINT, individuals_counted BIGINT, "
    "presence_only_reports BIGINT",
    "marts.fct_notable_sightings": "sub_id TEXT, species_code TEXT, obs_date DATE, "
    "region_code TEXT, com_name TEXT, loc_name TEXT, how_many BIGINT, obs_reviewed BOOLEAN, "
    "obs_valid BOOLEAN",
}
D1, D2, D3 = date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)
ROWS = {
    # posts: 600 + 634 = 1,234
    "telegram_marts.mart_daily_channel_activity": [
        ("CheMed123", D1, 100, 5000, 50.0, 3, 40, 0.4),
        ("CheMed123", D2, 200, 9000, 45.0, 2, 80, 0.4),
        ("CheMed123", D3, 300, 12000, 40.0, 1, 90, 0.3),
        ("tikvahpharma", D1, 200, 40000, 200.0, 9, 20, 0.1),
        ("tikvahpharma", D2, 200, 42000, 210.0, 8, 30, 0.15),
        ("tikvahpharma", D3, 234, 46800, 200.0, 7, 50, 0.21),
    ],
    # photos: 30 + 10 + 40 + 7 = 87
    "telegram_marts.mart_visual_content": [
        ("CheMed123", "product_display", 30, 28, 0.75),
        ("CheMed123", "other", 10, 10, 0.25),
        ("tikvahpharma", "product_display", 40, 35, 0.85),
        ("tikvahpharma", "lifestyle", 7, 7, 0.15),
    ],
    "telegram_marts.mart_product_terms_weekly": [
        (date(2024, 4, 29), AMHARIC, 50, 40, 2, 1),
        (date(2024, 5, 6), AMHARIC, 27, 20, 2, 1),
        (date(2024, 4, 29), "amoxicillin", 30, 25, 1, 2),
        (date(2024, 5, 6), "vitamin c", 12, 12, 2, 2),
    ],
    # detections: 321 + 120 + 15 = 456
    "telegram_marts.mart_top_objects": [
        ("bottle", 321, 90, 80, 2, 0.81),
        ("person", 120, 60, 55, 2, 0.77),
        ("cup", 15, 9, 9, 1, 0.52),
    ],
    # 7 species in 2 regions
    "marts.fct_daily_species_counts": [
        (region, day, code, code.upper(), 3, 4, 5, 0)
        for region, day, codes in [
            ("US-NY", D1, ("amecro", "blujay", "norcar")),
            ("US-NY", D2, ("amecro", "houspa")),
            ("KE", D1, ("ostric1", "secbir", "lilbus1")),
            ("KE", D2, ("ostric1",)),
        ]
        for code in codes
    ],
    "marts.fct_notable_sightings": [
        ("S1", "snoowl1", D1, "US-NY", "Snowy Owl", "Jones Beach", 1, True, True),
        ("S2", "paibun", D2, "US-NY", "Painted Bunting", "Prospect Park", 2, False, True),
        ("S3", "shoebi1", D2, "KE", "Shoebill", "Lake Baringo", 1, True, True),
    ],
}


def fill_warehouse(url: str, skip: tuple[str, ...] = (), empty: tuple[str, ...] = ()) -> None:
    with connect(url).session() as s:
        for table, columns in DDL.items():
            if table in skip:
                continue
            s.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
            s.execute(f"CREATE TABLE {table} ({columns})")
            if table in empty:
                continue
            for row in ROWS[table]:
                marks = ", ".join(["%s"] * len(row))
                s.execute(f"INSERT INTO {table} VALUES ({marks})", row)


@pytest.fixture(scope="module")
def built(tmp_path_factory, coco_photos):
    root = tmp_path_factory.mktemp("report")
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    fill_warehouse(url)
    annotated = root / "processed" / "annotated"
    annotated.mkdir(parents=True)
    for photo in coco_photos[:2]:
        shutil.copy(photo, annotated / photo.name)
    report = build_report(url, out_dir=root / "out", processed_dir=root / "processed", now=NOW)
    return url, root, report


def test_the_report_embeds_every_chart_the_figures_and_the_tables(built):
    _, root, report = built
    html = report.path.read_bytes().decode("utf-8")  # UTF-8 or this raises
    assert report.path == root / "out" / "report.html"
    assert report.sections_with_data == ALL_SECTIONS
    assert report.sections_missing == ()
    assert set(report.charts) == set(ALL_SECTIONS)
    charts = re.findall(r'<img class="chart" src="data:image/png;base64,[^"]+" alt="([^"]+)"', html)
    assert len(charts) == 6 and all(len(alt) > 20 for alt in charts)
    assert len(re.findall(r'src="data:image/jpeg;base64,', html)) == 2  # the annotated strip
    assert '<meta charset="utf-8">' in html
    figures = {"posts": 1234, "channels": 2, "photos": 87, "detections": 456, "species": 7,
               "regions": 2}  # fmt: skip
    assert report.figures == figures
    for label, value in figures.items():
        assert f"<b>{value:,}</b>{label}</li>" in html
    assert "Telegram 2024-05-01 to 2024-05-03; eBird 2024-05-01 to 2024-05-02" in html
    # The tables behind the charts: the Amharic term survives, summed over its weeks.
    assert f'<td>{AMHARIC}</td><td class="n">77</td>' in html
    assert "<td>Lake Baringo</td>" in html and "Shoebill" in html
    for png in report.charts.values():
        assert png.startswith(b"\x89PNG") and len(png) < 120_000
        assert int.from_bytes(png[16:20], "big") == 800  # IHDR width


def test_the_report_loads_nothing_from_anywhere(built):
    html = built[2].path.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', html))


def test_the_same_data_gives_the_same_charts(built, tmp_path):
    url, root, report = built
    again = build_report(url, out_dir=tmp_path, processed_dir=root / "processed", now=NOW)
    assert again.charts == report.charts
    assert again.path.read_bytes() == report.path.read_bytes()
    # No temp file left; beside the page only the chart cache (one PNG per chart).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".charts", "report.html"]
    assert len(list((tmp_path / ".charts").iterdir())) == len(report.charts)


def test_a_rerun_on_unchanged_data_draws_nothing_and_a_changed_mart_one_chart(tmp_path):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    fill_warehouse(url)
    first = build_report(url, out_dir=tmp_path / "out", processed_dir=tmp_path, now=NOW)
    assert first.charts_drawn == len(first.charts) == 6
    # Unchanged data, another process: the charts come from the cache, so matplotlib is
    # never imported, and the page is the same.
    code = (
        "import sys; from databox.report import build_report; from datetime import datetime, "
        f"timezone; r = build_report({url!r}, out_dir={str(tmp_path / 'out')!r}, "
        f"processed_dir={str(tmp_path)!r}, now=datetime.fromisoformat({NOW.isoformat()!r})); "
        "assert r.charts_drawn == 0, r.charts_drawn; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "out" / "report.html").read_bytes() == first.path.read_bytes()
    with connect(url).session() as s:
        s.execute("UPDATE telegram_marts.mart_top_objects SET detections = detections + 1")
    third = build_report(url, out_dir=tmp_path / "out", processed_dir=tmp_path, now=NOW)
    assert third.charts_drawn == 1 and third.charts["top_objects"] != first.charts["top_objects"]
    assert {k: v for k, v in third.charts.items() if k != "top_objects"} == {
        k: v for k, v in first.charts.items() if k != "top_objects"
    }
    # The previous top-objects chart was pruned: one entry per chart of this build.
    assert len(list((tmp_path / "out" / ".charts").glob("*.png"))) == 6


def test_charts_markdown_embeds_each_chart(built):
    markdown = charts_markdown(built[2])
    assert markdown.count("](data:image/png;base64,") == 6
    assert "![Top product terms](data:image/png;base64," in markdown


def test_a_missing_or_empty_mart_is_a_note_and_the_rest_still_renders(tmp_path):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    fill_warehouse(url, skip=("telegram_marts.mart_visual_content",),
                   empty=("marts.fct_daily_species_counts",))  # fmt: skip
    report = build_report(url, out_dir=tmp_path / "out", processed_dir=tmp_path / "none")
    html = report.path.read_text(encoding="utf-8")
    assert report.sections_missing == ("visual_content", "species_counts")
    assert set(report.sections_with_data) == set(ALL_SECTIONS) - {"visual_content",
                                                                 "species_counts"}  # fmt: skip
    assert (
        "no data yet: telegram_marts.mart_visual_content does not exist; run "
        "`daily_pipeline_job`" in html
    )
    assert "no data yet: marts.fct_daily_species_counts is empty; run `daily_ebird_pipeline`" in (
        html
    )
    assert html.count('<img class="chart"') == 4
    assert "photos</li>" in html and "<b>–</b>photos" in html  # a figure it could not count
    assert "visual_content" not in report.charts
    assert "no data yet" in charts_markdown(report)


def test_a_warehouse_without_any_mart_still_gives_a_page(tmp_path):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with connect(url).session() as s:
        s.execute("CREATE TABLE t (x INTEGER)")
    report = build_report(url, out_dir=tmp_path)
    assert report.sections_with_data == () and report.charts == {}
    assert "no dated data yet" in report.path.read_text(encoding="utf-8")


def test_the_report_reads_postgresql(pg_url, tmp_path):
    fill_warehouse(pg_url)
    report = build_report(pg_url, out_dir=tmp_path, processed_dir=tmp_path)
    assert report.sections_with_data == ALL_SECTIONS
    assert report.figures["posts"] == 1234 and report.figures["species"] == 7
    assert AMHARIC in report.path.read_text(encoding="utf-8")


def test_the_cli_prints_the_path_and_the_missing_sections(tmp_path, monkeypatch, capsys):
    demo = tmp_path / "demo"
    demo.mkdir()
    fill_warehouse(f"duckdb:///{demo / 'warehouse.duckdb'}", skip=("marts.fct_notable_sightings",))
    monkeypatch.delenv("DATABOX_REPORTS_DIR", raising=False)
    assert main(["report", "--demo", str(demo)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(demo / "reports" / "report.html")
    assert "notable_sightings: no data yet" in err
    assert main(["report", "--demo", str(demo), "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "report.html").is_file()


def test_an_unreadable_warehouse_is_exit_1_naming_it(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nothing.duckdb"
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{missing}")
    assert main(["report", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("databox: error: cannot read the warehouse") and str(missing) in err
    assert not missing.exists() and not (tmp_path / "report.html").exists()
    with pytest.raises(ReportUnavailable):
        build_report(f"duckdb:///{missing}", out_dir=tmp_path)


def test_importing_the_report_package_does_not_import_matplotlib():
    code = "import sys, databox.report; assert 'matplotlib' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_in_a_browser_nothing_leaves_the_machine_and_every_image_loads(built):
    from tests import ui_browser

    reason = ui_browser.chromium_available()
    require_service(reason is None, reason or "")  # CI installs Chromium: never skipped there
    from playwright.sync_api import sync_playwright

    requested: list[str] = []

    def route(r):
        requested.append(r.request.url)
        local = r.request.url.startswith(("file:", "data:"))
        r.continue_() if local else r.abort()

    path: Path = built[2].path
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=ui_browser.CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", route)
            page.on("request", lambda r: requested.append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            widths = page.locator("img").evaluate_all(
                "els => els.map(e => e.complete ? e.naturalWidth : 0)"
            )
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert len(widths) == 8 and all(w > 0 for w in widths)
    assert requested and all(u.startswith(("file:", "data:")) for u in requested), requested


def test_without_an_ethiopic_font_the_chart_still_renders(monkeypatch):
    import warnings

    from databox.report import charts

    monkeypatch.setattr(charts, "ethiopic_font", lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the missing glyphs must not even warn
        png = charts.ranked_bars([AMHARIC, "aspirin"], [3, 1], title="t", xlabel="x", ylabel="y")
    assert png.startswith(b"\x89PNG")


def test_the_report_waits_for_a_loader_holding_the_duckdb_lock(built, monkeypatch, tmp_path):
    from databox.filelock import file_lock
    from databox.report import build as report_build

    url, root, _ = built
    monkeypatch.setattr(report_build, "LOCK_TIMEOUT", 0.2)
    with (
        file_lock(root / "warehouse.duckdb.lock"),
        pytest.raises(ReportUnavailable, match="another process holds it"),
    ):
        build_report(url, out_dir=tmp_path)
    assert not (tmp_path / "report.html").exists()
