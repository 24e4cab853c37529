"""The offline demo: the real pipeline against local replicas of the external APIs.

``databox demo`` builds the replica's corpus from real photographs, serves it on
127.0.0.1, points the pipeline at it through the same environment variables a user
sets for production, runs ``daily_pipeline_job`` with the Dagster CLI into a fresh
DuckDB file, and prints what landed. Nothing leaves the machine. With ``--ui`` the
replicas keep serving and the Dagster UI opens over the same data (``demo_ui``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from databox.config import DEFAULT_DEMO_DIR, demo_paths, resolve_path
from databox.demo_ui import DAGSTER_CLI_WARNING_FILTER
from databox.errors import ConfigError

#: The shipped instance config; the demo's DAGSTER_HOME gets a copy, so a change there
#: (storage, pool limits, telemetry) applies to the demo too.
INSTANCE_CONFIG = Path(".dagster") / "dagster.yaml"

DEMO_EBIRD_TOKEN = "demo-token"  # the local replica's token; never a real one


def demo_environment(workdir: Path, telegram_base_url: str, ebird_base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "EBIRD_"))}
    env.update(demo_paths(workdir))
    env.update(
        {
            "TELEGRAM_WEB_BASE_URL": telegram_base_url,
            "TELEGRAM_CHANNELS": "CheMed123,lobelia4cosmetics,tikvahpharma",
            # Set but blank: a Telethon session in the user's .env (which the code location
            # loads for unset variables only) must not take the demo to the real Telegram.
            "TELEGRAM_API_ID": "",
            "TELEGRAM_API_HASH": "",
            "TELEGRAM_SESSION": "",
            "EBIRD_API_TOKEN": DEMO_EBIRD_TOKEN,
            "EBIRD_API_BASE_URL": ebird_base_url,
            "EBIRD_REGIONS": "US-NY,US-CA,KE",
            # One process for the whole run: the demo is about the data, not step isolation.
            "DATABOX_EXECUTOR": env.get("DATABOX_EXECUTOR", "in_process"),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1",
        }
    )
    return env


def run_dagster(args: list[str], env: dict[str, str], log: Callable[[str], None]) -> float:
    cmd = [sys.executable, "-W", DAGSTER_CLI_WARNING_FILTER, "-m", "dagster", *args]
    log(f"running: dagster {' '.join(args)}")
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=resolve_path("."), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-6000:])
        raise SystemExit(
            f"demo: `dagster {' '.join(args)}` failed (exit {proc.returncode}); the Dagster log is above"
        )
    return seconds


def print_summary(database_url: str) -> None:
    from databox.telegram.load import warehouse_status
    from databox.warehouse import connect

    wh = connect(database_url)
    status = warehouse_status(wh)
    print(f"\nWhat landed in {status['warehouse']}:")
    print(
        f"  raw.telegram_messages: {status['rows']} rows ({status['posts']} posts); lake files "
        f"loaded: {status['files_loaded']}, "
        f"failed: {status['files_failed']}; unresolved load errors: {status['unresolved_errors']}"
    )
    for channel, info in status["channels"].items():
        print(
            f"  {channel:<20} {info['posts']:>5} posts, {info['service_messages']:>2} service "
            f"messages, newest {info['newest_message_date'][:16]}"
        )
    rows = wh.query(
        "select channel, message_id, date, views, image_paths, text from ("
        " select channel, message_id, date, views, image_paths, text,"
        " row_number() over (partition by channel order by message_id desc) as rn"
        " from raw.telegram_messages where coalesce(message_type, 'post') = 'post') t"
        " where rn <= 2 order by channel, message_id desc"
    )
    kinds = wh.query(
        "select media_kind, count(*) as n from raw.telegram_messages"
        " where coalesce(message_type, 'post') = 'post' group by media_kind order by n desc"
    )
    print("  posts by kind: " + ", ".join(f"{r['media_kind']} {r['n']}" for r in kinds))
    print("\nNewest posts per channel:")
    for row in rows:
        images = row["image_paths"]
        images = orjson.loads(images) if isinstance(images, str) else images or []
        text = (row["text"] or "").replace("\n", " ")[:60]
        print(
            f"  {row['channel']:<18} #{row['message_id']:<7} {str(row['date'])[:16]}  "
            f"views={row['views']!s:<7} images={len(images)}  {text}"
        )


def print_detections(database_url: str, processed_dir: Path) -> None:
    from databox.enrich.load_detections import detection_summary
    from databox.warehouse import connect

    summary = detection_summary(connect(database_url))
    objects = ", ".join(f"{k} {v}" for k, v in list(summary["objects_per_class"].items())[:10])
    categories = ", ".join(f"{k} {v}" for k, v in summary["images_per_category"].items())
    print("\nObject detection (raw.image_detections, raw.image_enrichment):")
    print(f"  photos by category: {categories}")
    print(f"  objects by class (top 10): {objects}")
    print(
        f"  CSV: {processed_dir / 'yolo_detections.csv'}; annotated photos: {processed_dir / 'annotated'}"
    )


def print_ebird(database_url: str) -> None:
    from databox.warehouse import connect

    wh = connect(database_url)
    print("\neBird (raw_ebird → staging → marts, quality):")
    from databox.status_report import EBIRD_TABLES

    for table in EBIRD_TABLES:
        print(f"  {table:<34} {wh.query(f'select count(*) as n from {table}')[0]['n']:>6} rows")
    quality = wh.query(
        "select sum(case when passed then 1 else 0 end) as passed, "
        "sum(case when skipped then 1 else 0 end) as skipped, count(*) as n "
        "from quality.data_quality_results"
    )[0]
    print(
        f"  quality.data_quality_results: {quality['passed']} of {quality['n']} checks passed, "
        f"{quality['skipped']} skipped (tables not loaded)"
    )
    days = wh.query(
        "select min(obs_date) as first_day, max(obs_date) as last_day, "
        "count(distinct obs_date) as n, min(count_source) as source "
        "from marts.fct_daily_species_counts"
    )[0]
    print(
        f"  daily counts: {days['n']} day(s), {days['first_day']} → {days['last_day']}, "
        f"from the {days['source']} (per-date) observations; recent observations are the "
        "latest sighting per species, not daily counts"
    )
    top = wh.query(
        "select region_code, species_code, sum(individuals_counted) as birds from marts.fct_daily_species_counts "
        "group by region_code, species_code order by birds desc nulls last limit 3"
    )
    for row in top:
        print(f"  most counted: {row['region_code']} {row['species_code']}: {row['birds']}")


def print_marts_and_report(env: dict[str, str]) -> None:
    """The Telegram marts' row counts, and the report to open."""
    from databox.warehouse import connect

    wh = connect(env["DATABASE_URL"], read_only=True)
    print("\nTelegram marts (SQLMesh, telegram_staging → telegram_marts):")
    with wh.session() as s:
        for schema in ("telegram_staging", "telegram_marts"):
            for (table,) in s.fetchall(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "ORDER BY table_name",
                (schema,),
            ):
                n = s.fetchone(f"SELECT count(*) FROM {schema}.{table}")[0]
                print(f"  {schema}.{table:<32} {n:>6} rows")
    report = Path(env["DATABOX_REPORTS_DIR"]) / "report.html"
    if report.is_file():
        print(f"\nThe report of both pipelines: {report}  (open it in a browser; offline)")
    else:
        print(f"\nno report at {report}: daily_pipeline_job did not build databox_report")


def _model_available() -> str | None:
    """None when a detector model can be found, else the message saying how to get one."""
    from databox.detect import resolve_model_path
    from databox.errors import ConfigError

    try:
        resolve_model_path(os.environ.get("YOLO_MODEL") or None)
    except ConfigError as exc:
        return str(exc)
    return None


def install_instance_config(dagster_home: Path, source: Path | None = None) -> None:
    """Copy the shipped ``.dagster/dagster.yaml`` into the demo's DAGSTER_HOME."""
    source = source or resolve_path(INSTANCE_CONFIG)
    if not source.is_file():
        raise ConfigError(
            f"demo: the Dagster instance config {source} is missing; the demo's instance "
            f"({dagster_home}) uses a copy of it. Restore it (`git restore {INSTANCE_CONFIG}`) "
            "or run from the repository root"
        )
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dagster_home / "dagster.yaml")


def demo_data_present(root: Path) -> bool:
    """Whether an earlier demo left a warehouse in ``root`` (then ``--ui --keep`` only serves)."""
    database_url = demo_paths(root)["DATABASE_URL"]
    warehouse = Path(database_url[len("duckdb:///") :])
    return warehouse.is_file() and warehouse.stat().st_size > 0


def next_commands(root: Path) -> tuple[str, str]:
    """(serve the UI again, show what landed) for the demo in ``root``, both pasteable
    from the repository root."""
    if root == resolve_path(DEFAULT_DEMO_DIR):
        return "uv run databox demo --ui --keep", "uv run databox status --demo"
    paths = demo_paths(root)
    ui = f"uv run databox demo --ui --keep --dir {shlex.quote(str(root))}"
    status = " ".join(
        f"{name}={shlex.quote(paths[name])}" for name in ("DATABASE_URL", "DATA_LAKE_DIR")
    )
    return ui, f"{status} uv run databox status"


def closing_hint(root: Path) -> str:
    """The plain demo's last lines."""
    ui, status = next_commands(root)
    return (
        f"\nDemo data in {root} (DAGSTER_HOME={root / 'dagster_home'}).\n"
        f"Browse it in the Dagster UI, replicas included: {ui}\n"
        f"See what landed: {status}"
    )


def run_demo_jobs(env: dict[str, str], log: Callable[[str], None]) -> bool:
    """Both pipelines, as the CLI runs them; False when detection was left out (no model).
    eBird first: daily_pipeline_job ends with the report, which shows both pipelines."""
    seconds = run_dagster(
        ["job", "execute", "-f", "orchestration/dagster_project.py", "-j", "daily_ebird_pipeline"],
        env,
        log,
    )
    log(f"daily_ebird_pipeline succeeded in {seconds:.1f} s")
    missing_model = _model_available()
    if missing_model is None:
        seconds = run_dagster(
            ["job", "execute", "-m", "orchestration.definitions", "-j", "daily_pipeline_job"],
            env,
            log,
        )
        log(f"daily_pipeline_job succeeded in {seconds:.1f} s")
    else:
        log("no object-detection model found; running scrape and load only.\n" + missing_model)
        seconds = run_dagster(
            ["asset", "materialize", "-m", "orchestration.definitions",
             "--select", "scrape_telegram,load_raw_data"],
            env,
            log,
        )  # fmt: skip
        log(f"scrape_telegram and load_raw_data succeeded in {seconds:.1f} s")
    return missing_model is None


#: Posts per channel the demo's t.me replica serves. DATABOX_DEMO_POSTS_PER_CHANNEL
#: makes a smaller corpus for a quick try (the UI test uses one).
DEFAULT_DEMO_POSTS_PER_CHANNEL = 240


def demo_posts_per_channel() -> int:
    from databox.config_values import positive_int

    return positive_int(
        os.environ, "DATABOX_DEMO_POSTS_PER_CHANNEL", DEFAULT_DEMO_POSTS_PER_CHANNEL
    )


def run_demo(
    workdir: str = "data/demo",
    keep: bool = False,
    log: Callable[[str], None] = print,
    ui: bool = False,
    ui_port: int = 3000,
) -> int:
    from databox.demo_ui import check_port_free, serve_ui, sigterm_as_keyboard_interrupt
    from databox.replica.ebird_api import EbirdApiReplica
    from databox.replica.telegram_web import TelegramWebReplica, build_demo_corpus
    from databox.samples import find_sample_photos

    root = resolve_path(workdir)
    if ui:
        again = next_commands(root)[0]  # the error's suggestion: this command, another port
        check_port_free(ui_port, command=again if keep else again.replace(" --keep", "", 1))
    serve_only = ui and keep and demo_data_present(root)
    if root.exists() and not keep:
        shutil.rmtree(root)
    install_instance_config(root / "dagster_home")

    photos = find_sample_photos()
    log(f"replica photos: {len(photos)} from {photos[0].parent if photos else 'nowhere'}")
    # Seeded and dated by today: kept data from today sees the same corpus, older data newer posts.
    corpus = build_demo_corpus(photos, posts_per_channel=demo_posts_per_channel())
    with (
        sigterm_as_keyboard_interrupt(),
        TelegramWebReplica(corpus) as replica,
        EbirdApiReplica(token=DEMO_EBIRD_TOKEN) as ebird,
    ):
        log(f"t.me replica serving on {replica.base_url}; eBird replica on {ebird.base_url}")
        env = demo_environment(root, replica.base_url, ebird.base_url)
        if serve_only:
            log(f"demo data found in {root}: serving it as is (drop --keep to run the demo afresh)")
        else:
            detected = run_demo_jobs(env, log)
            print_summary(env["DATABASE_URL"])
            if detected:
                print_detections(env["DATABASE_URL"], root / "processed")
            print_ebird(env["DATABASE_URL"])
            print_marts_and_report(env)
        if ui:
            code = serve_ui(env, ui_port, root / "dagster_dev.log", log)
    if ui:
        log(f"stopped the Dagster UI and the replicas; back into it: {next_commands(root)[0]}")
        return code
    print(closing_hint(root))
    return 0
