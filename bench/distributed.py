"""Chunked enrichment through Dagster against the plain in-process call, same run.

    uv run python -m bench.distributed [--copies 4] [--rounds 3] [--chunk 64] [--no-write]

A lake of ``copies`` × the 100 COCO photos (copies under other names: pending is keyed
by the lake path, so every copy is a photo of its own) is enriched from scratch by

(a) ``enrich_images`` in this process: the baseline, what one step did before chunking
    (the better of onnxruntime on every core and on one core, per round);
(b) ``dagster asset materialize --select enrich_data_yolo`` with the multiprocess
    executor, ``max_concurrent`` 1: the chunk steps one after the other;
(c) the same with ``max_concurrent`` 2: two chunk steps at a time (the box has 2 cores),
    ENRICH_WORKERS 2 and YOLO_THREADS cores ÷ 2, as ``deploy up --workers 2`` sets them;
(d, e) the production topology, ``databox deploy up --workers 1`` / ``2`` (celery on
    RabbitMQ, PostgreSQL instance), a run of only ``enrich_data_yolo`` launched through
    the webserver's GraphQL API. Skipped, and said so, without RabbitMQ or PostgreSQL.

Dagster's time is the run's own, RUN_START → RUN_SUCCESS from its event log (the CLI's
2–3 s of imports and the topology's start excluded). Rounds interleave a/b/c so drift
hits all alike (d and e run their rounds in a block: a topology takes ~20 s to start,
and its first run, which builds each worker's onnxruntime session, is not counted: a
production topology's workers live for days);
each figure is min / median / max of the rounds, the ratio is median images/s against
the baseline's. Which processes ran the chunk steps comes from the steps' events (pid).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.results import spread, write_section
from databox.config import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PHOTOS = SHARED / "datasets" / "coco-val-sample"
MODEL = SHARED / "models" / "yolox_nano.onnx"


def _build_lake(root: Path, copies: int) -> int:
    from databox.lake import DataLake

    lake = DataLake(root)
    photos = sorted(PHOTOS.glob("*.jpg"))
    for c in range(copies):
        for i, photo in enumerate(photos):
            target = lake.image_path(f"benchcopy{c}", i + 1)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photo, target)
    return copies * len(photos)


def _baseline_round(lake_root: Path, processed: Path) -> float:
    """Seconds of ``enrich_images`` on a fresh processed directory, the better of its
    two thread settings (onnxruntime on every core, and one thread beside the two decode
    threads, which is faster on 2 cores): the bound is the best the in-process path does."""
    from databox.detect import Detector
    from databox.enrich.detect_images import enrich_images
    from databox.enrich.outputs import ProcessedDir
    from databox.lake import DataLake

    times = []
    for i, threads in enumerate((None, 1)):
        detector = Detector(MODEL, intra_op_threads=threads)
        started = time.perf_counter()
        out = ProcessedDir(processed / str(i))
        enrich_images(DataLake(lake_root), out, detector, log=lambda _m: None)
        times.append(time.perf_counter() - started)
    return min(times)


def _dagster_round(home: Path, env: dict[str, str], run_config: dict) -> dict:
    """One ``enrich_data_yolo`` materialization from the CLI."""
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-f",
         "orchestration/definitions.py", "--select", "enrich_data_yolo",
         "--config-json", json.dumps(run_config)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"materialize failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return _run_figures(home)


def _run_figures(home: Path, run_id: str | None = None) -> dict:
    """The run's timing and its chunk steps, from the instance's event log (the newest
    run unless ``run_id``)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = run_id or instance.get_runs(limit=1)[0].run_id
        logs = instance.all_logs(run_id)
    at = {}
    steps: dict[str, dict] = {}
    for e in logs:
        # By the enum's names: RUN_START's stored value is the legacy "PIPELINE_START".
        kind = e.dagster_event.event_type.name if e.dagster_event else None
        if kind in ("RUN_START", "RUN_SUCCESS"):
            at[kind] = e.timestamp
        if e.step_key and ".detect_chunk[" in e.step_key and kind in ("STEP_START", "STEP_SUCCESS"):
            steps.setdefault(e.step_key, {"pid": e.dagster_event.pid})[kind] = e.timestamp
    intervals = sorted((s["STEP_START"], s["STEP_SUCCESS"]) for s in steps.values())
    overlap = max(
        (sum(1 for a, b in intervals if a <= t < b) for t, _ in intervals), default=0
    )  # most chunk steps running at one moment
    return {
        "seconds": at["RUN_SUCCESS"] - at["RUN_START"],
        "chunks": len(steps),
        "pids": len({s["pid"] for s in steps.values()}),
        "overlap": overlap,
    }


LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _celery_rounds(tmp: Path, env: dict, workers: int, rounds: int, processed: Path) -> list:
    """``rounds`` runs of ``enrich_data_yolo`` on ``databox deploy up --workers N``."""
    import httpx

    port, grpc = _free_port(), _free_port()
    home, log_path = tmp / f"celery{workers}_home", tmp / f"celery{workers}.log"
    argv = [sys.executable, "-m", "databox", "deploy", "up", "--workers", str(workers),
            "--port", str(port), "--grpc-port", str(grpc), "--home", str(home)]  # fmt: skip
    run_env = {**env, "PROCESSED_DATA_DIR": str(processed)}
    with log_path.open("wb") as out:
        up = subprocess.Popen(argv, cwd=REPO, env=run_env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    ui, results = f"http://127.0.0.1:{port}", []
    try:
        deadline = time.monotonic() + 180
        while "Dagster UI:" not in log_path.read_text():
            if up.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"deploy up did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        for r in range(rounds + 1):  # round 0 warms the topology up and is not counted
            shutil.rmtree(processed, ignore_errors=True)
            processed.mkdir()
            params = {"selector": {
                "repositoryLocationName": "databox", "repositoryName": "__repository__",
                "jobName": "daily_pipeline_job", "assetSelection": [{"path": ["enrich_data_yolo"]}],
                "assetCheckSelection": []}}  # fmt: skip
            reply = httpx.post(f"{ui}/graphql", timeout=30,
                               json={"query": LAUNCH, "variables": {"p": params}}).json()  # fmt: skip
            launched = reply["data"]["launchRun"]
            if launched["__typename"] != "LaunchRunSuccess":
                raise RuntimeError(f"launchRun: {launched}")
            run_id, status = launched["run"]["runId"], None
            while status not in ("SUCCESS", "FAILURE", "CANCELED"):
                time.sleep(1)
                query = {"query": STATUS, "variables": {"id": run_id}}
                status = httpx.post(f"{ui}/graphql", json=query, timeout=10).json()["data"][
                    "runOrError"]["status"]  # fmt: skip
            if status != "SUCCESS":
                raise RuntimeError(f"run {run_id}: {status}; see {log_path}")
            os.environ["DAGSTER_PG_URL"] = env["DAGSTER_PG_URL"]  # the instance, to read it
            if r:
                results.append(_run_figures(home, run_id))
    finally:
        up.terminate()  # deploy up stops every process it started on SIGTERM
        up.wait(60)
    return results


def _postgres_db() -> str | None:
    """A fresh database on the local server for the celery topology's instance (and the
    warehouse, unused by enrichment), or None without PostgreSQL or RabbitMQ."""
    import socket
    import uuid

    for port in (5432, 5672):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            return None
    import psycopg

    name = f"databox_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _drop_db(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(copies: int, rounds: int, chunk: int, celery: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp_dir:
        tmp = Path(tmp_dir)
        images = _build_lake(tmp / "lake", copies)
        home = tmp / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DATA_LAKE_DIR": str(tmp / "lake"),
            "DATABASE_URL": f"duckdb:///{tmp / 'warehouse.duckdb'}",
            "YOLO_MODEL": str(MODEL),
            "ENRICH_CHUNK_SIZE": str(chunk),
            "DATABOX_EXECUTOR": "multiprocess",
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "PYTHONWARNINGS": "ignore",
        }
        cases = {"baseline": [], "mp1": [], "mp2": []}
        for r in range(rounds):
            cases["baseline"].append({"seconds": _baseline_round(tmp / "lake", tmp / f"a{r}")})
            for name, workers in (("mp1", 1), ("mp2", 2)):
                # As `deploy up` sets them: the plan cuts a multiple of `workers` chunks,
                # each step gets its share of the cores.
                run_env = {**env, "PROCESSED_DATA_DIR": str(tmp / f"{name}_{r}"),
                           "ENRICH_WORKERS": str(workers),
                           "YOLO_THREADS": str(max(1, (os.cpu_count() or 1) // workers))}  # fmt: skip
                config = {"execution": {"config": {"max_concurrent": workers}}}
                cases[name].append(_dagster_round(home, run_env, config))
                done = Path(run_env["PROCESSED_DATA_DIR"]) / "yolo_images.csv"
                assert done.read_text().count("\n") == images + 1, f"{name}: not every photo"
            print(f"round {r + 1}/{rounds}: " + ", ".join(
                f"{k} {v[-1]['seconds']:.1f} s" for k, v in cases.items()))  # fmt: skip
        db = _postgres_db() if celery else None
        if db:
            celery_env = {**env, "DAGSTER_PG_URL": db, "DATABASE_URL": db,
                          "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"}  # fmt: skip
            try:
                for workers in (1, 2):
                    out = tmp / f"celery{workers}_processed"
                    runs = _celery_rounds(tmp, celery_env, workers, rounds, out)
                    assert (out / "yolo_images.csv").read_text().count("\n") == images + 1
                    cases[f"celery{workers}"] = runs
                    print(f"celery {workers}: " + ", ".join(f"{c['seconds']:.1f} s" for c in runs))
            finally:
                _drop_db(db)
    base = statistics.median(images / c["seconds"] for c in cases["baseline"])
    figures: dict = {"images": images, "chunk": chunk, "rounds": rounds, "cpus": os.cpu_count()}
    for name, runs in cases.items():
        rates = [images / c["seconds"] for c in runs]
        figures[name] = {
            "images_per_s": spread(rates, 1),
            "ratio": round(statistics.median(rates) / base, 2),
            "seconds": spread([c["seconds"] for c in runs], 1),
            **({k: runs[-1][k] for k in ("chunks", "pids", "overlap")} if name != "baseline" else {}),
        }  # fmt: skip
    return figures


def render(f: dict) -> str:
    rows = [
        ("a. `enrich_images` in process (baseline)", f["baseline"], "—"),
        ("b. Dagster, multiprocess, `max_concurrent` 1", f["mp1"], None),
        ("c. Dagster, multiprocess, `max_concurrent` 2", f["mp2"], None),
    ]
    lines = [
        "## Distributed enrichment (`uv run python -m bench.distributed`)",
        "",
        f"{f['images']} photos ({f['images'] // 100} copies of the COCO sample), chunks of "
        f"{f['chunk']}, {f['rounds']} interleaved rounds, {f['cpus']} CPUs. min / median / max; "
        "ratio = median images/s vs the baseline of the same run. Dagster's seconds are "
        "RUN_START → RUN_SUCCESS.",
        "",
        "| case | images/s | ratio | seconds | chunk steps (pids, most at once) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, c, steps in rows:
        steps = steps or f"{c['chunks']} ({c['pids']} pids, {c['overlap']} at once)"
        lines.append(f"| {label} | {c['images_per_s']} | {c['ratio']} | {c['seconds']} | {steps} |")
    for n, label in ((1, "d. `databox deploy up --workers 1` (celery)"),
                     (2, "e. `databox deploy up --workers 2` (celery)")):  # fmt: skip
        if (c := f.get(f"celery{n}")) is None:
            lines.append(f"| {label} | not run (no RabbitMQ/PostgreSQL, or --no-celery) | | | |")
            continue
        steps = f"{c['chunks']} ({c['pids']} pids, {c['overlap']} at once)"
        lines.append(f"| {label} | {c['images_per_s']} | {c['ratio']} | {c['seconds']} | {steps} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of the 100 photos (≥ 4)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (≥ 3)")
    parser.add_argument(
        "--chunk", type=int, default=Settings().enrich_chunk_size, help="ENRICH_CHUNK_SIZE"
    )
    parser.add_argument("--no-celery", action="store_true", help="skip the deploy up cases")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args(argv)
    figures = measure(args.copies, args.rounds, args.chunk, celery=not args.no_celery)
    print(render(figures))
    if not args.no_write:
        write_section("distributed", render(figures))


if __name__ == "__main__":
    main()
