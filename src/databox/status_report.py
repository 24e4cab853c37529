"""What ``databox status`` prints: the lake and every pipeline's tables in the warehouse.

Reading status never writes: a missing DuckDB file is reported ("nothing loaded
yet"), not created, and the file is opened read-only. Tables that are not there
yet (a pipeline that has not run) are shown as such rather than failing.
"""

from __future__ import annotations

from databox.config import Settings, redact_url
from databox.lake import DataLake
from databox.warehouse import Warehouse, connect

#: Seconds status waits for a DuckDB file another process is writing before giving up.
STATUS_LOCK_TIMEOUT = 15.0

DETECTIONS_TABLE = "raw.image_detections"
ENRICHMENT_TABLE = "raw.image_enrichment"
#: The eBird pipeline's tables, as ``databox demo`` shows them.
EBIRD_TABLES = (
    "raw_ebird.recent_observations",
    "raw_ebird.notable_observations",
    "raw_ebird.historic_observations",
    "raw_ebird.taxonomy",
    "raw_ebird.hotspots",
    "marts.fct_daily_species_counts",
    "marts.fct_notable_sightings",
    "marts.fct_hotspot_activity",
)
QUALITY_TABLE = "quality.data_quality_results"


def print_status(settings: Settings) -> None:
    lake = DataLake(settings.data_lake_dir)
    print(f"lake: {lake.root}")
    for channel in settings.telegram_channels:
        print(f"  {channel:<24} watermark {lake.read_watermark(channel, repair=False)}")
    print(f"warehouse: {redact_url(settings.database_url)}")
    warehouse = connect(settings.database_url, read_only=True, lock_timeout=STATUS_LOCK_TIMEOUT)
    if warehouse.dialect == "duckdb" and not warehouse.path.exists():
        print(
            f"  nothing loaded yet: there is no DuckDB file at {warehouse.path} "
            "(`databox load` or a Dagster run creates it)"
        )
        return
    print_telegram(warehouse)
    print_detections(warehouse)
    print_ebird(warehouse)


def print_telegram(warehouse: Warehouse) -> None:
    from databox.telegram.load import warehouse_status

    status = warehouse_status(warehouse)
    if not status["initialized"]:
        print("  Telegram: nothing loaded yet (no raw.telegram_messages)")
        return
    print(
        f"  Telegram raw.telegram_messages: {status['rows']} rows ({status['posts']} posts); "
        f"lake files loaded {status['files_loaded']}, failed {status['files_failed']}; "
        f"unresolved load errors {status['unresolved_errors']}; "
        f"last load {status['last_loaded_at']}"
    )
    for channel, info in status["channels"].items():
        print(
            f"    {channel:<24} {info['rows']:>7} rows, newest message "
            f"{info['newest_message_date']}, last loaded {info['last_loaded_at']}"
        )


def print_detections(warehouse: Warehouse) -> None:
    with warehouse.session() as s:
        if not s.table_exists(DETECTIONS_TABLE):
            print(f"  detections: nothing loaded yet (no {DETECTIONS_TABLE})")
            return
        objects, photos = s.fetchone(
            f"SELECT count(*), count(DISTINCT image_path) FROM {DETECTIONS_TABLE}"
        )
        categories = []
        if s.table_exists(ENRICHMENT_TABLE):
            categories = s.fetchall(
                f"SELECT coalesce(category, status), count(*) AS n FROM {ENRICHMENT_TABLE} "
                "GROUP BY 1 ORDER BY n DESC"
            )
    by_category = ", ".join(f"{name} {n}" for name, n in categories) or "none"
    print(
        f"  detections {DETECTIONS_TABLE}: {objects} objects in {photos} photos; "
        f"photos by category ({ENRICHMENT_TABLE}): {by_category}"
    )


def print_ebird(warehouse: Warehouse) -> None:
    with warehouse.session() as s:
        counts = {
            t: s.fetchone(f"SELECT count(*) FROM {t}")[0] if s.table_exists(t) else None
            for t in EBIRD_TABLES
        }
        quality = _latest_quality_run(s) if s.table_exists(QUALITY_TABLE) else None
    if all(n is None for n in counts.values()):
        print("  eBird: nothing loaded yet (no raw_ebird or marts tables)")
        return
    print("  eBird")
    for table, n in counts.items():
        print(f"    {table:<34} {'not loaded' if n is None else f'{n:>7} rows'}")
    if quality is None:
        print(f"    quality: no checks have run yet (no {QUALITY_TABLE})")
        return
    failed = f"; failed: {', '.join(quality['failed'])}" if quality["failed"] else ""
    print(
        f"    quality (latest run {quality['run_id']}, {quality['checked_at']}): "
        f"{quality['passed']} of {quality['n']} checks passed, {len(quality['failed'])} failed, "
        f"{quality['skipped']} skipped{failed}"
    )


def _latest_quality_run(session) -> dict | None:
    latest = session.fetchall(
        f"SELECT run_id, max(checked_at) AS last_checked FROM {QUALITY_TABLE} "
        "GROUP BY run_id ORDER BY last_checked DESC LIMIT 1"
    )
    if not latest:
        return None
    run_id, checked_at = latest[0]
    rows = session.fetchall(
        f"SELECT check_name, passed, skipped FROM {QUALITY_TABLE} WHERE run_id = %s "
        "ORDER BY check_name",
        (run_id,),
    )
    return {
        "run_id": run_id,
        "checked_at": checked_at,
        "n": len(rows),
        "passed": sum(1 for _, passed, _ in rows if passed),
        "skipped": sum(1 for _, _, skipped in rows if skipped),
        "failed": [name for name, passed, skipped in rows if not passed and not skipped],
    }
