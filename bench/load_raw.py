"""Benchmark: lake → raw.telegram_messages on DuckDB and PostgreSQL, each against
real bounds measured in the same run.

    uv run python -m bench.load_raw            # 200,000 messages; about 7 minutes
    uv run python -m bench.load_raw --quick    # 20,000 messages; about 1 minute

Builds a synthetic lake (text 50–600 characters with Amharic and emoji, ~30 % with
photos, a Telethon-like ``raw`` payload), then, in ``--rounds`` interleaved rounds
(the order of the cases rotates each round, every case into a fresh warehouse):

* DuckDB: ``load_raw_messages`` vs DuckDB's own ``read_json`` of the same files into
  the same table, in one statement (no validation, no manifest);
* PostgreSQL: ``load_raw_messages`` vs a thin Python COPY of the same rows (orjson,
  tuples built straight from the records, no validation) and vs the server floor
  (COPY of the same rows' pre-built binary COPY bytes: no Python row building);

then the no-op as the user waits (``uv run databox load`` on a loaded lake, process
start included, next to ``uv run python -c pass``), and the peak RSS of a child
process loading 1×, 4× and 16× lakes. Each ratio is min/median/max over the rounds;
ratios are baseline seconds ÷ loader seconds (1.0 = as fast as the bound). Results
rewrite this benchmark's section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from bench.results import RESULTS_MD, markers, spread, write_section
from databox.lake import DataLake
from databox.telegram.load import RAW_MESSAGES, ROW_COLUMNS, ensure_raw_schema, load_raw_messages
from databox.telegram.message import MESSAGE_FIELDS, TelegramMessage
from databox.warehouse import connect

NAME = "load_raw"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CHANNELS = ("CheMed123", "lobelia4cosmetics", "tikvahpharma", "EthioPharma_Hub")
WORDS = (
    *("paracetamol", "ibuprofen", "amoxicillin", "cream", "lotion", "serum", "delivery"),
    *("available", "price:", "ETB", "Addis", "Ababa", "Bole", "skin", "care", "original"),
    *(
        "ቫይታሚን",
        "መድሃኒት",
        "ዋጋ",
        "ብር",
        "አዲስ",
        "ይደውሉ",
        "💊",
        "🧴",
        "✅",
        "📞",
        "🔥",
        "—",
        "«new»",
        "№1",
    ),
)


# -- the synthetic lake -------------------------------------------------------------------


def _text(rng: random.Random) -> str:
    n = rng.randint(50, 600)
    words: list[str] = []
    size = 0
    while size < n:
        words.append(rng.choice(WORDS))
        size += len(words[-1]) + 1
    return " ".join(words)[:n]


def generate_lake(root: Path, messages: int, files: int, seed: int = 7) -> DataLake:
    """``messages`` messages over ``files`` day files (channels × days), via DataLake."""
    rng = random.Random(seed)
    lake = DataLake(root)
    days = max(1, files // len(CHANNELS))
    per_file = max(1, messages // (days * len(CHANNELS)))
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    scraped = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
    for ch_no, channel in enumerate(CHANNELS):
        batch = []
        mid = 1000
        for d in range(days):
            day = start + timedelta(days=d)
            for i in range(per_file):
                mid += 1
                photos = rng.random() < 0.3
                paths = [f"raw/images/{channel}/{mid}.jpg"] if photos else []
                if photos and rng.random() < 0.3:
                    paths.append(f"raw/images/{channel}/{mid}_1.jpg")
                batch.append(
                    TelegramMessage(
                        channel=channel,
                        message_id=mid,
                        date=day + timedelta(seconds=i * (86_000 // per_file)),
                        text=_text(rng),
                        views=rng.randint(0, 50_000),
                        forwards=rng.randint(0, 200),
                        replies=rng.choice((None, rng.randint(0, 40))),
                        has_media=photos,
                        image_paths=paths,
                        grouped_id=rng.randint(10**17, 10**18)
                        if photos and rng.random() < 0.3
                        else None,
                        edit_date=day + timedelta(hours=2) if rng.random() < 0.2 else None,
                        post_author=rng.choice((None, "admin", "ፋርማሲ")),
                        source="telethon",
                        scraped_at=scraped,
                        raw={
                            "id": mid,
                            "peer_id": {"channel_id": 1_000_000 + ch_no},
                            "post": True,
                            "silent": False,
                            "entities": [{"_": "MessageEntityBold", "offset": 0, "length": 5}],
                            "reply_to": None,
                            "fwd_from": None,
                        },
                    )
                )
        lake.write_messages(channel, batch)
    return lake


@contextmanager
def fresh_pg_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server, dropped afterwards."""
    import psycopg

    name = f"databox_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _machine(pg_url: str) -> dict:
    import duckdb
    import psycopg

    cpu = ""
    with suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    with psycopg.connect(pg_url) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "duckdb": duckdb.__version__,
        "psycopg": psycopg.__version__,
    }


def _quiet(_msg: str) -> None:
    """The loader's per-group lines would drown the figures."""


# -- DuckDB: the loader and read_json ------------------------------------------------------


def duckdb_read_json(lake: DataLake, db: Path) -> float:
    """Seconds for DuckDB alone to read every file with ``read_json`` into the loader's
    table (same DDL, so the same primary key and columns, created untimed): each record
    as its JSON text (the payload column) and typed by ``from_json``; one statement,
    one commit, the connection closed (its checkpoint included). No validation."""
    import duckdb

    from databox.warehouse.duckdb import DuckDBSession

    with connect(f"duckdb:///{db}").session() as s:
        ensure_raw_schema(s)
    types = {c.name: DuckDBSession.TYPES[c.type] for c in RAW_MESSAGES.columns}
    struct = "{" + ", ".join(f'"{n}": "{types[n]}"' for n in MESSAGE_FIELDS) + "}"
    fields = ", ".join(f"struct_extract(r, '{n}')" for n in MESSAGE_FIELDS)
    files = [str(p) for p in lake.message_files()]
    prefix = f"{lake.root}/"
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"INSERT INTO raw.telegram_messages SELECT {fields}, payload, "
        f"replace(filename, '{prefix}', ''), now() FROM (SELECT from_json(json, '{struct}') AS r, "
        "json AS payload, filename FROM read_json(?, format = 'array', records = 'false', "
        "columns = {json: 'JSON'}, filename = true))",
        [files],
    )
    con.close()
    return time.perf_counter() - started


def timed_load(url: str, lake: DataLake) -> float:
    started = time.perf_counter()
    report = load_raw_messages(connect(url), lake, log=_quiet)
    seconds = time.perf_counter() - started
    assert report.ok and report.rows_rejected == 0, report.summary()
    return seconds


# -- PostgreSQL: the loader, a thin COPY, the server floor -----------------------------------


@contextmanager
def _pg_table(admin_url: str) -> Iterator[str]:
    """A fresh database holding the loader's tables (created untimed)."""
    with fresh_pg_database(admin_url) as url:
        with connect(url).session() as s:
            ensure_raw_schema(s)
        yield url


def _thin_rows(lake: DataLake) -> Iterator[tuple]:
    """The loader's row for each record, built straight from the dict: no validation."""
    fromiso, dumps = datetime.fromisoformat, orjson.dumps
    loaded_at = datetime.now(timezone.utc)
    for path in lake.message_files():
        rel = lake.relative(path)
        for r in orjson.loads(path.read_bytes()):
            e, media, preview = r["edit_date"], r["media"], r["link_preview"]
            yield (
                r["channel"], r["message_id"], fromiso(r["date"]), r["text"], r["views"],
                r["forwards"], r["replies"], r["has_media"], dumps(r["image_paths"]),
                r["grouped_id"], e and fromiso(e), r["post_author"], r["source"],
                fromiso(r["scraped_at"]), dumps(r["raw"]), r["message_type"], r["action"],
                r["pinned_message_id"], r["new_title"], r["media_kind"],
                None if media is None else dumps(media), r["reply_to_message_id"],
                dumps(r["links"]), None if preview is None else dumps(preview),
                dumps(r["album_ids"]), r["photo_status"], dumps(r["photo_errors"]), dumps(r),
                rel, loaded_at,
            )  # fmt: skip


_COPY_IN = f"COPY raw.telegram_messages ({', '.join(ROW_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def _pg_types() -> list[str]:
    from databox.warehouse.postgres import PostgresSession

    return [PostgresSession.TYPES[c.type] for c in RAW_MESSAGES.columns]


def pg_thin_copy(url: str, lake: DataLake, keep: Path | None = None) -> float:
    """Seconds for a thin Python COPY: orjson, ``_thin_rows``, binary ``write_row``
    (JSON columns as orjson bytes through the same thin jsonb dumper the loader
    uses), one commit. ``keep``: also save the table's binary COPY bytes there
    (untimed), for the server floor."""
    import psycopg

    from databox.warehouse.postgres import _json_dumpers

    with psycopg.connect(url) as conn:
        for dumper in _json_dumpers():
            conn.adapters.register_dumper(None, dumper)
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(_COPY_IN) as cp:
            cp.set_types(_pg_types())
            for row in _thin_rows(lake):
                cp.write_row(row)
        conn.commit()
        seconds = time.perf_counter() - started
        if keep is not None:
            out = f"COPY raw.telegram_messages ({', '.join(ROW_COLUMNS)}) TO STDOUT (FORMAT BINARY)"
            with open(keep, "wb") as fh, conn.cursor() as cur, cur.copy(out) as cp:
                for block in cp:
                    fh.write(block)
    return seconds


def pg_server_floor(url: str, copy_file: Path) -> float:
    """Seconds for the server to COPY the same rows' binary COPY bytes (read from a
    file and streamed as they are: no Python row building at all)."""
    import psycopg

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with open(copy_file, "rb") as fh, conn.cursor() as cur, cur.copy(_COPY_IN) as cp:
            while block := fh.read(1 << 20):
                cp.write(block)
        conn.commit()
        return time.perf_counter() - started


# -- no-op as the user waits, and memory ----------------------------------------------------------


def cli_wall(argv: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
    return seconds, done.stdout


def _in_function(stdout: str) -> float | None:
    """The loader's own timer, from the CLI's ``files: …, … unchanged (0.12 s)`` line."""
    for line in stdout.splitlines():
        if line.startswith("files:") and line.endswith(" s)"):
            return float(line.rsplit("(", 1)[1].split()[0])
    return None


def peak_rss_mb(url: str, lake_root: Path) -> float:
    """Peak RSS of a child process that runs one load (``--child``), in MB: its own
    ``VmHWM``, which exec resets (``ru_maxrss`` of a child still counts the pages of
    the parent it was forked from)."""
    argv = [sys.executable, "-m", "bench.load_raw", "--child", url, str(lake_root)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory child for {url} failed: {done.stderr[-2000:]}")
    return int(done.stdout.split("VmHWM:")[1].split()[0]) / 1024  # kB


def _child(url: str, lake_root: str) -> int:
    report = load_raw_messages(connect(url), DataLake(Path(lake_root)), log=_quiet)
    status = Path("/proc/self/status").read_text()
    print(next(line for line in status.splitlines() if line.startswith("VmHWM:")))
    return 0 if report.ok else 1


# -- the run ------------------------------------------------------------------------------------


def run(
    *,
    messages: int = 200_000,
    files: int = 200,
    rounds: int = 3,
    noop_rounds: int = 5,
    memory_base: int = 12_500,
    pg_admin_url: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    pg_admin_url = pg_admin_url or os.environ.get("DATABOX_BENCH_PG_URL", DEFAULT_PG_URL)
    began = time.perf_counter()
    machine = _machine(pg_admin_url)
    tmp = Path(tempfile.mkdtemp(prefix="databox_bench_"))
    times: dict[str, list[float]] = {}
    out: dict = {"machine": machine, "rounds": rounds, "times": times}

    def note(case: str, seconds: float) -> None:
        times.setdefault(case, []).append(seconds)
        log(f"  {case:<44} {seconds:7.2f} s")

    try:
        t = time.perf_counter()
        lake = generate_lake(tmp / "lake", messages, files)
        paths = lake.message_files()
        out["messages"] = sum(len(orjson.loads(p.read_bytes())) for p in paths)
        out["files"], out["mb"] = len(paths), sum(p.stat().st_size for p in paths) / 1e6
        log(f"{NAME}: {out['messages']:,} messages in {len(paths)} files ({out['mb']:.0f} MB) "
            f"built in {time.perf_counter() - t:.0f} s; {rounds} interleaved rounds")  # fmt: skip
        copy_file = tmp / "rows.copy"
        with _pg_table(pg_admin_url) as url:  # the floor's bytes, built once, untimed
            pg_thin_copy(url, lake, keep=copy_file)
        duck_db = tmp / "duck.duckdb"

        def fresh_duck() -> Path:
            for p in tmp.glob("duck.duckdb*"):
                p.unlink()
            return duck_db

        def in_pg(fn: Callable[[str], float]) -> float:
            with _pg_table(pg_admin_url) as url:
                return fn(url)

        cases: list[tuple[str, Callable[[], float]]] = [
            ("duckdb read_json", lambda: duckdb_read_json(lake, fresh_duck())),
            ("duckdb loader", lambda: timed_load(f"duckdb:///{fresh_duck()}", lake)),
            ("pg thin COPY", lambda: in_pg(lambda url: pg_thin_copy(url, lake))),
            ("pg server floor", lambda: in_pg(lambda url: pg_server_floor(url, copy_file))),
            ("pg loader", lambda: in_pg(lambda url: timed_load(url, lake))),
        ]
        for r in range(rounds):
            log(f"round {r + 1}")
            # Rotate the order each round: no case always runs first or after another.
            for case, go in cases[r % len(cases) :] + cases[: r % len(cases)]:
                note(case, go())

        # -- no-op as the user waits, on warehouses the loader has just filled.
        timed_load(f"duckdb:///{fresh_duck()}", lake)
        base_env = {**os.environ, "DATA_LAKE_DIR": str(lake.root)}
        noop: dict[str, list[float]] = {}
        inner: dict[str, list[float]] = {}
        with _pg_table(pg_admin_url) as pg_url:
            timed_load(pg_url, lake)
            runs = [
                ("duckdb", ["uv", "run", "databox", "load"],
                 {**base_env, "DATABASE_URL": f"duckdb:///{duck_db}"}),
                ("postgresql", ["uv", "run", "databox", "load"],
                 {**base_env, "DATABASE_URL": pg_url}),
                ("python start", ["uv", "run", "python", "-c", "pass"], base_env),
            ]  # fmt: skip
            for r in range(noop_rounds):
                for name, argv, env in runs[r % 3 :] + runs[: r % 3]:
                    seconds, stdout = cli_wall(argv, env)
                    noop.setdefault(name, []).append(seconds)
                    if (inside := _in_function(stdout)) is not None:
                        inner.setdefault(name, []).append(inside)
        out["noop"], out["noop_inner"] = noop, inner
        log(f"  no-op CLI walls: { {k: [round(x, 2) for x in v] for k, v in noop.items()} }")

        # -- memory: a child process per load, 1×/4×/16× lakes.
        memory = []
        for k in (1, 4, 16):
            n = memory_base * k
            mlake = generate_lake(tmp / f"mem{k}", n, max(4, n // 1000))
            db = tmp / f"mem{k}.duckdb"
            duck_mb = peak_rss_mb(f"duckdb:///{db}", mlake.root)
            with fresh_pg_database(pg_admin_url) as url:
                pg_mb = peak_rss_mb(url, mlake.root)
            size = sum(p.stat().st_size for p in mlake.message_files()) / 1e6
            memory.append((k, n, size, duck_mb, pg_mb))
            log(f"  memory {k}×: {n:,} messages, {size:.0f} MB: DuckDB {duck_mb:.0f} MB, "
                f"PostgreSQL {pg_mb:.0f} MB")  # fmt: skip
            shutil.rmtree(tmp / f"mem{k}", ignore_errors=True)
            for p in tmp.glob(f"mem{k}.duckdb*"):
                p.unlink()
        out["memory"] = memory
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["minutes"] = (time.perf_counter() - began) / 60
    return out


# -- RESULTS.md -----------------------------------------------------------------------------

_START, _END = markers(NAME)


def render(out: dict) -> str:
    m, t, n = out["machine"], out["times"], out["messages"]

    def ratio(base: str, case: str) -> str:
        return spread([b / c for b, c in zip(t[base], t[case], strict=True)])

    lines = [
        _START,
        "## load_raw: lake → raw.telegram_messages",
        "",
        f"`{out['command']}` on {m['date']} ({out['minutes']:.1f} minutes): {m['machine']}, "
        f"{m['cores']} cores ({m['cpu'] or 'cpu unknown'}), Python {m['python']}, PostgreSQL "
        f"{m['postgresql']}, DuckDB {m['duckdb']}, psycopg {m['psycopg']}. The machine is "
        "shared: read the ratios (paired within a round) rather than the absolutes.",
        f"Lake: {n:,} messages in {out['files']} files, {out['mb']:.0f} MB of JSON. Every figure "
        f"is min / median / max over {out['rounds']} interleaved rounds (the order of the cases "
        "rotates each round; each case loads into a fresh warehouse).",
        "",
        "| case | seconds | rows/s (median) |",
        "| --- | ---: | ---: |",
    ]
    for case in t:
        lines.append(f"| {case} | {spread(t[case])} | {n / statistics.median(t[case]):,.0f} |")
    lines += [
        "",
        "| ratio: bound's seconds ÷ loader's (1.0 = as fast as the bound) | min / median / max | target |",
        "| --- | ---: | ---: |",
        f"| DuckDB loader vs DuckDB `read_json` | {ratio('duckdb read_json', 'duckdb loader')} | ≥ 0.5 |",
        f"| PostgreSQL loader vs thin Python COPY | {ratio('pg thin COPY', 'pg loader')} | ≥ 0.7 |",
        f"| PostgreSQL loader vs server floor | {ratio('pg server floor', 'pg loader')} | – |",
        f"| thin Python COPY vs server floor | {ratio('pg server floor', 'pg thin COPY')} | – |",
        "",
        "Bounds (measured in the same run, same lake, into the loader's own table: same DDL and "
        "primary key, created untimed, empty):",
        "",
        "- **DuckDB `read_json`**: one `INSERT … SELECT` from `read_json(files, format='array', "
        "records='false')`, each record typed by `from_json` with the columns' types and kept "
        "whole as the payload column; one commit, connection closed (checkpoint included). No "
        "validation, no manifest, no hashing.",
        "- **thin Python COPY**: orjson per file, each row's tuple built straight from the record "
        "dict (no validation), binary `COPY … FROM STDIN` with `write_row`, one commit.",
        "- **server floor**: the same rows' binary COPY bytes (saved once, untimed, from the thin "
        "COPY's table) streamed from a file to `COPY … FROM STDIN` in 1 MB blocks: the server's "
        "work with no Python row building.",
        "- The loaders are timed around `load_raw_messages` (connection, table checks, hashing, "
        "validation, manifest and errors tables included).",
        "",
        "No-op as the user waits: the CLI on a lake the loader has just loaded (nothing new), "
        "wall clock of the whole process, next to the bare interpreter start:",
        "",
        "| command | wall seconds | loader's own timer (median) |",
        "| --- | ---: | ---: |",
    ]
    for name, walls in out["noop"].items():
        cmd = (
            "`uv run python -c pass`"
            if name == "python start"
            else f"`uv run databox load` ({name})"
        )
        inner = out["noop_inner"].get(name)
        inside = f"{statistics.median(inner):.2f} s" if inner else "–"
        lines.append(f"| {cmd} | {spread(walls)} | {inside} |")
    lines += [
        "",
        "Peak RSS of a child process running one load into an empty warehouse (its `VmHWM`):",
        "",
        "| lake | messages | JSON MB | DuckDB MB | PostgreSQL MB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for k, msgs, size, duck_mb, pg_mb in out["memory"]:
        lines.append(f"| {k}× | {msgs:,} | {size:.0f} | {duck_mb:.0f} | {pg_mb:.0f} |")
    lines += ["", *NOTES, _END]
    return "\n".join(lines)


NOTES = [
    "How the loaders get there: DuckDB reads and validates each group of changed files "
    "(~64 MB) itself, in one `read_json` statement whose SQL accepts only what the Python "
    "rules accept and builds the same row (src/databox/telegram/load_duckdb_sql.py); a file "
    "it is not sure of goes through the Python path. PostgreSQL validates in Python "
    "(`TelegramMessage.from_record` + load_validate.py) and binary-COPYs each new file "
    "straight into the table under a savepoint.",
    "Known gaps: the DuckDB loader's remaining cost over `read_json` is its validation "
    "SQL (a second parse of each record by `from_json`/`json_keys`), staging each group "
    "before inserting it, the SHA-256 of every file and one commit (checkpoint) per ~64 MB "
    "group; its memory is bounded by a 256 MB buffer pool plus one group, so it stops "
    "growing once the lake exceeds a group. PostgreSQL still builds and validates rows in "
    "Python: DuckDB writing CSV for COPY was slower (the server parses CSV JSON more "
    "slowly than binary), and DuckDB's verdict plus unvalidated row building gained "
    "nothing measurable on this shared 2-core machine.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load_raw", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true",
                        help="20,000 messages, small memory lakes: a couple of minutes")  # fmt: skip
    parser.add_argument("--messages", type=int)
    parser.add_argument("--files", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-base", type=int, help="messages of the 1× memory lake")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--child", nargs=2, metavar=("URL", "LAKE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(*args.child)
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (min/median/max)")
    quick = args.quick
    out = run(
        messages=args.messages or (20_000 if quick else 200_000),
        files=args.files or (40 if quick else 200),
        rounds=args.rounds,
        memory_base=args.memory_base or (2_000 if quick else 12_500),
    )
    out["command"] = " ".join(
        ["uv run python -m bench.load_raw", *(sys.argv[1:] if argv is None else argv)]
    )
    if not args.no_write:
        write_section(NAME, render(out))
        print(f"{NAME}: wrote {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
