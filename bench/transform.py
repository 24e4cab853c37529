"""Benchmark: SQLMesh's cost over the same models' SQL run directly.

    uv run python -m bench.transform                  # eBird and Telegram, DuckDB, 3 rounds
    uv run python -m bench.transform --rounds 5 --engine postgres --no-write

Per project, a raw dataset is built once (eBird: the replica through the real dlt
pipeline, 3 regions, the last 3 days' historic lists; Telegram: the demo corpus
scraped from its t.me replica and loaded raw, plus one synthetic enrichment row and
box per image) and SQLMesh builds it once, both outside timing. Then, interleaved,
each round measures on its own copy of the built warehouse (DuckDB: a file copy;
PostgreSQL: a TEMPLATE copy of the raw database built by an untimed first run, since
SQLMesh's state names the database a built one was made in):

a. baseline: every model's query rendered once by SQLMesh (outside timing; Python
   model: its counting code), run directly in DAG order as ``CREATE TABLE <model> AS
   <query>`` (``VIEW`` for view models) over the full date range, on the raw data;
b. cold: a new process (``import sqlmesh`` and Context load included) running the
   models as the Dagster assets do, staging then marts (``refresh_ebird_models`` /
   ``refresh_telegram_marts``), after raw rows were reloaded (eBird: as a daily dlt
   load does, new load ids on every raw table, observations of the last two days
   only; Telegram: one day's messages a new ``loaded_at``);
c. warm: the same in this process, its SQLMesh context already loaded;
d. no-op: the same again with nothing new.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bench.results import spread, write_section

NAME = "transform"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PROJECTS = ("ebird", "telegram")


# -- datasets (outside timing) -----------------------------------------------------------


def load_ebird(url: str, tmp: Path) -> None:
    from databox.ebird.pipeline import run_ebird
    from databox.replica.ebird_api import EbirdApiReplica, build_dataset
    from tests.ebird_helpers import fast_settings

    today = datetime.now(timezone.utc).date()
    regions = ("US-NY", "US-CA", "KE")
    with EbirdApiReplica(build_dataset(regions=regions, today=today), token="bench") as rep:
        settings = fast_settings(rep, tmp, "bench", regions)
        run_ebird(url, settings, historic_dates=[today - timedelta(days=d) for d in (3, 2, 1)])


def load_telegram(url: str, tmp: Path) -> None:
    from databox.enrich.load_detections import IMAGE_DETECTIONS, IMAGE_ENRICHMENT
    from databox.lake import DataLake
    from databox.replica.telegram_web import TelegramWebReplica, build_demo_corpus
    from databox.samples import find_sample_photos
    from databox.telegram.load import load_raw_messages
    from databox.telegram.web import WebPreviewSource
    from databox.warehouse import connect
    from tests.telegram_helpers import fetch_batches

    lake = DataLake(tmp / "lake")
    corpus = build_demo_corpus(find_sample_photos(8))
    with TelegramWebReplica(corpus) as replica:
        for channel in ("CheMed123", "lobelia4cosmetics", "tikvahpharma"):
            fetch_batches(WebPreviewSource(replica.base_url), lake, channel)
    wh = connect(url)
    assert load_raw_messages(wh, lake, log=lambda _m: None).ok
    now = datetime.now(timezone.utc)
    images, boxes = [], []
    with wh.session() as s:
        posts = s.fetchall("SELECT channel, message_id, image_paths FROM raw.telegram_messages")
    for n, (channel, mid, paths) in enumerate(posts):
        # A JSON text on DuckDB, already a list on PostgreSQL (jsonb).
        for path in paths if isinstance(paths, list) else json.loads(paths or "[]"):
            images.append(dict(channel=channel, message_id=mid, image_path=path,
                               image_sha256="s", model_version="bench@1", status="ok",
                               category=("promotional", "lifestyle", "other")[n % 3],
                               object_count=1, image_width=640, image_height=480,
                               processed_at=now, loaded_at=now))  # fmt: skip
            boxes.append(dict(channel=channel, message_id=mid, image_path=path,
                              image_sha256="s", model_version="bench@1", box_index=0,
                              class_id=n % 5, class_name=f"class{n % 5}", confidence=0.5,
                              x1=0, y1=0, x2=50, y2=40, loaded_at=now))  # fmt: skip
    with wh.transaction() as tx:
        tx.ensure_tables(IMAGE_DETECTIONS, IMAGE_ENRICHMENT)
        for table, rows in ((IMAGE_ENRICHMENT, images), (IMAGE_DETECTIONS, boxes)):
            cols = table.column_names
            tx.bulk_upsert(table.name, cols, [tuple(r.get(c) for c in cols) for r in rows],
                           table.primary_key)  # fmt: skip


def touch_one_day(project: str, url: str) -> None:
    """New raw rows: Telegram, the day before yesterday's messages reloaded; eBird, a
    daily dlt load (new load ids on every raw table, observations since that day)."""
    from databox.warehouse import connect

    day = datetime.now(timezone.utc).date() - timedelta(days=2)
    with connect(url).transaction() as tx:
        if project == "ebird":
            # What a daily dlt load does to every raw table: its rows come back with a
            # new load id (merge / replace), the observations of the last days only.
            load_id = f"{time.time():.6f}"
            for table in ("recent_observations", "notable_observations",
                          "historic_observations"):  # fmt: skip
                tx.execute(f"UPDATE raw_ebird.{table} SET _dlt_load_id = %s "
                           "WHERE obs_date >= %s", (load_id, day))  # fmt: skip
            for table in ("taxonomy", "hotspots"):
                tx.execute(f"UPDATE raw_ebird.{table} SET _dlt_load_id = %s", (load_id,))
            return
        tx.execute(
            "UPDATE raw.telegram_messages SET loaded_at = %s "
            "WHERE CAST(date AT TIME ZONE 'UTC' AS DATE) = %s",
            (datetime.now(timezone.utc), day),
        )


# -- warehouses: a template copied per round --------------------------------------------
# DuckDB: a file copy of the built warehouse (same stem, so the same catalog name).
# PostgreSQL: SQLMesh records the database name as the catalog of every table, so a
# copy of a *built* database under another name fails its catalog check; each round's
# warehouse is a TEMPLATE copy of the raw database, built by an untimed first run.


class Engine:
    def __init__(self, kind: str, tmp: Path, pg_url: str) -> None:
        self.kind, self.tmp, self.pg_url, self.made = kind, tmp, pg_url, []

    def new(self, name: str, template: str | None = None) -> str:
        if self.kind == "duckdb":
            path = self.tmp / name / "w.duckdb"  # one stem: the catalog SQLMesh records
            path.parent.mkdir(parents=True)
            if template:
                shutil.copy(template[len("duckdb:///") :], path)
            return f"duckdb:///{path}"
        import psycopg

        db = f"bench_tf_{name}"
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            tpl = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
            conn.execute(f'CREATE DATABASE "{db}"{tpl}')
        self.made.append(db)
        return f"{self.pg_url.rsplit('/', 1)[0]}/{db}"

    def new_built(self, name: str, project: str, raw: str, built: str) -> str:
        if self.kind == "duckdb":
            return self.new(name, built)
        url = self.new(name, raw)
        asset_steps(project, url)  # untimed: the build this round's runs start from
        return url

    def drop_all(self) -> None:
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                for db in self.made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


# -- (a) the baseline ----------------------------------------------------------------------


def render_models(runner) -> list[tuple[str, str, str | None]]:
    """(model, kind, SQL without catalog) in DAG order; SQL None for the Python model."""
    from sqlglot import exp

    ctx = runner.context()
    dialect = ctx.engine_adapter.dialect
    out = []
    with runner._session() as ctx:
        physical = {}
        for snapshot in ctx.snapshots.values():
            if not snapshot.is_external:
                phys, model = exp.to_table(snapshot.table_name()), exp.to_table(snapshot.name)
                physical[(phys.db, phys.name)] = (model.db, model.name)
        for fqn in ctx.dag:
            model = ctx.get_model(fqn)
            if model.kind.is_external:
                continue
            name = ".".join(p for p in (exp.to_table(fqn).db, exp.to_table(fqn).name))
            if model.is_python:
                out.append((name, "PYTHON", None))
                continue
            query = ctx.render(fqn, start="2020-01-01", end=date.today())
            for table in query.find_all(exp.Table):
                table.set("catalog", None)
                # A model built in this warehouse renders as its physical table; the
                # baseline builds the model's own name instead.
                model_name = physical.get((table.db, table.name))
                if model_name:
                    table.set("db", exp.to_identifier(model_name[0]))
                    table.set("this", exp.to_identifier(model_name[1]))
            out.append((name, model.kind.name.value, query.sql(dialect=dialect)))
    return out


def run_baseline(url: str, models) -> float:
    from databox.transform.telegram.terms import lexicon_path, load_lexicon, weekly_term_counts
    from databox.warehouse import connect

    started = time.perf_counter()
    with connect(url).transaction() as tx:
        for name, kind, sql in models:
            tx.execute(f"CREATE SCHEMA IF NOT EXISTS {name.split('.')[0]}")
            if sql is not None:
                what = "VIEW" if kind == "VIEW" else "TABLE"
                if tx.table_exists(name) and what == "TABLE":
                    tx.execute(f"DROP TABLE {name}")  # PostgreSQL has no OR REPLACE TABLE
                tx.execute(
                    f"CREATE {'OR REPLACE ' if what == 'VIEW' else ''}{what} {name} AS {sql}"
                )
                continue
            # The Python model's work: read the texts, count, write the rows.
            texts = tx.fetchall("SELECT channel, message_id, message_date, text FROM "
                                "telegram_staging.stg_telegram_messages WHERE text IS NOT NULL")  # fmt: skip
            counts = weekly_term_counts(texts, load_lexicon(lexicon_path()))
            tx.execute(f"CREATE TABLE {name} (week_start date, term text, mentions bigint, "
                       "messages bigint, channels bigint, rank int)")  # fmt: skip
            if counts:
                values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(counts))
                tx.execute(f"INSERT INTO {name} VALUES {values}", [v for r in counts for v in r])
    return time.perf_counter() - started


# -- (b)-(d) SQLMesh as the assets run it --------------------------------------------------


def asset_steps(project: str, url: str) -> float:
    """Staging then marts, as the project's Dagster assets call them; seconds."""
    from databox.transform.dag import load_dag
    from databox.transform.ebird_refresh import refresh_ebird_models
    from databox.transform.telegram_refresh import refresh_telegram_marts

    dag = load_dag(project)
    started = time.perf_counter()
    if project == "ebird":
        for schema, last in (("staging", False), ("marts", True)):
            refresh_ebird_models(url, select_models=dag.models(schema), advance_watermark=last,
                                 shared_runner=True)  # fmt: skip
    else:
        for schema, last in (("telegram_staging", False), ("telegram_marts", True)):
            models = dag.models(schema)
            refresh_telegram_marts(url, select_models=models, advance_watermark=last,
                                   shared_runner=True)  # fmt: skip
    return time.perf_counter() - started


def cold_run(project: str, url: str) -> float:
    """(b): a new process; the wall time of the whole process, interpreter start included."""
    code = f"from bench.transform import asset_steps; asset_steps({project!r}, {url!r})"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


# -- rounds and report -------------------------------------------------------------------


def measure(project: str, engine: Engine, rounds: int) -> dict[str, list[float]]:
    from databox.transform.runner import EBIRD_PROJECT_DIR, TELEGRAM_PROJECT_DIR, SqlMeshRunner
    from databox.transform.shared_runner import shared_runner

    raw = engine.new(f"{project}_raw")
    (load_ebird if project == "ebird" else load_telegram)(raw, engine.tmp / project)
    built = engine.new(f"{project}_built", raw)
    asset_steps(project, built)  # the first build, outside timing (and what is rendered)
    project_dir = EBIRD_PROJECT_DIR if project == "ebird" else TELEGRAM_PROJECT_DIR
    renderer = SqlMeshRunner(built, project_dir)
    models = render_models(renderer)
    renderer.close()
    times: dict[str, list[float]] = {k: [] for k in ("baseline", "cold", "warm", "noop")}
    for n in range(rounds):
        times["baseline"].append(run_baseline(engine.new(f"{project}_base{n}", raw), models))
        cold = engine.new_built(f"{project}_cold{n}", project, raw, built)
        warm = engine.new_built(f"{project}_warm{n}", project, raw, built)
        touch_one_day(project, cold)
        touch_one_day(project, warm)
        times["cold"].append(cold_run(project, cold))
        # A process a step already ran in: SQLMesh imported and exercised (on another
        # copy), the Context for this warehouse loaded.
        warmup = engine.new_built(f"{project}_warmup{n}", project, raw, built)
        touch_one_day(project, warmup)
        asset_steps(project, warmup)
        shared_runner(warm, project_dir).context()
        times["warm"].append(asset_steps(project, warm))
        times["noop"].append(asset_steps(project, warm))
        print(f"{project} round {n + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr)  # fmt: skip
    times["models"] = [float(len(models))]
    return times


def render(results: dict[str, dict], engine: str, rounds: int) -> str:
    lines = [
        "## SQLMesh transforms (`bench.transform`)",
        "",
        f"`uv run python -m bench.transform --engine {engine} --rounds {rounds}` "
        f"({datetime.now(timezone.utc):%Y-%m-%d}, 2-core shared machine, {engine} warehouse).",
        "",
        "Baseline: each model's query rendered once by SQLMesh (outside timing), run "
        "directly in DAG order as `CREATE TABLE <model> AS <query>` (`VIEW` for view "
        "models; the Telegram Python model: its own counting code) over the full date "
        "range, in one transaction on a copy of the raw warehouse. SQLMesh runs "
        "staging then marts as the Dagster assets do (`refresh_ebird_models` / "
        "`refresh_telegram_marts` per schema) on a copy of a warehouse it built before "
        "(PostgreSQL: built by an untimed first run per round, SQLMesh's state naming "
        "its database): *cold* = a new Python process, wall time "
        "(interpreter, `import sqlmesh` and the Context load included); *warm* = a "
        "process whose SQLMesh context is loaded (a Dagster step after the first, the "
        "celery worker); *no-op* = the same again with nothing new (both projects then "
        "skip SQLMesh: raw digest and project fingerprint unchanged). Cold and warm runs "
        "follow a reload of raw rows: eBird, what a daily dlt load does (new load ids on "
        "every raw table, observations of the last two days only); Telegram, one day's "
        "messages (that day restated).",
        "",
        "| project | models | baseline s (min / median / max) | cold ÷ baseline | "
        "warm ÷ baseline | no-op ÷ baseline | warm s | no-op s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for project, t in results.items():
        ratio = {
            k: [v / b for v, b in zip(t[k], t["baseline"], strict=True)]
            for k in ("cold", "warm", "noop")
        }
        lines.append(
            f"| {project} | {int(t['models'][0])} | {spread(t['baseline'])} | "
            f"{spread(ratio['cold'])} | {spread(ratio['warm'])} | {spread(ratio['noop'])} | "
            f"{spread(t['warm'])} | {spread(t['noop'])} |"
        )
    lines += ["", f"Ratios: min / median / max over {rounds} interleaved rounds, each "
              "against the baseline of its own round."]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--project", choices=PROJECTS, action="append")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")
    pg_url = os.environ.get("DATABOX_BENCH_PG_URL", DEFAULT_PG_URL)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-transform-") as tmp:
        os.environ.setdefault("DLT_DATA_DIR", str(Path(tmp) / "dlt"))
        engine = Engine(args.engine, Path(tmp), pg_url)
        try:
            for project in args.project or PROJECTS:
                results[project] = measure(project, engine, args.rounds)
        finally:
            engine.drop_all()
    section = render(results, args.engine, args.rounds)
    print(section)
    if not args.no_write:
        write_section(f"{NAME}-{args.engine}", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
