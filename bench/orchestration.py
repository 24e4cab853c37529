"""Dagster's overhead on both jobs: the job as the user waits for it, against its steps.

    uv run python -m bench.orchestration [--rounds 3] [--posts 240] [--no-write]

The demo's data (t.me replica with ``--posts`` posts per channel, the eBird replica)
served from this process; each round runs, in a fresh data directory,

    dagster job execute -m orchestration.definitions -j daily_ebird_pipeline
    dagster job execute -m orchestration.definitions -j daily_pipeline_job

once on empty data (*fresh*) and once more with nothing new (*no-op*), for each
executor: the default (multiprocess) and ``DATABOX_EXECUTOR=in_process`` (the laptop
profile the demo uses). Executors interleave within a round, so drift hits all alike.

Overhead = the CLI's wall time (process start, imports, run and step launch included)
÷ the sum of the run's steps' own durations (STEP_START → STEP_SUCCESS in its event
log): 1.0 would be the steps' work with nothing around it. Each figure is min / median
/ max over the rounds. The steps' own time is itself reported, so a job that got
cheaper by doing less shows it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.results import spread, write_section

NAME = "orchestration"
REPO = Path(__file__).resolve().parents[1]
JOBS = ("daily_ebird_pipeline", "daily_pipeline_job")
EXECUTORS = ("multiprocess", "in_process")
PHASES = ("fresh", "no-op")


def _step_seconds(dagster_home: Path) -> tuple[float, float, int]:
    """(sum of the steps' own seconds, RUN_START→RUN_SUCCESS seconds, steps) of the one
    run of ``dagster_home``'s newest run."""
    from dagster import DagsterEventType, DagsterInstance

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        starts: dict[str, float] = {}
        own = 0.0
        steps = 0
        run_start = run_end = 0.0
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                starts[event.step_key] = entry.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                own += entry.timestamp - starts.pop(event.step_key)
                steps += 1
            elif event.event_type == DagsterEventType.RUN_START:
                run_start = entry.timestamp
            elif event.event_type == DagsterEventType.RUN_SUCCESS:
                run_end = entry.timestamp
        if not run_end:
            raise SystemExit(f"run {run.run_id} of {dagster_home} did not succeed")
        return own, run_end - run_start, steps


def _run_job(job: str, env: dict[str, str]) -> float:
    from databox.demo import DAGSTER_CLI_WARNING_FILTER

    cmd = [sys.executable, "-W", DAGSTER_CLI_WARNING_FILTER, "-m", "dagster", "job", "execute"]
    cmd += ["-m", "orchestration.definitions", "-j", job]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"{job} failed (exit {proc.returncode})")
    return wall


def _round(root: Path, urls: tuple[str, str], executor: str, results: dict) -> None:
    from databox.demo import demo_environment, install_instance_config

    workdir = root / executor
    shutil.rmtree(workdir, ignore_errors=True)
    install_instance_config(workdir / "dagster_home")
    env = demo_environment(workdir, *urls)
    env["DATABOX_EXECUTOR"] = executor
    for phase in PHASES:
        for job in JOBS:
            wall = _run_job(job, env)
            own, run, steps = _step_seconds(Path(env["DAGSTER_HOME"]))
            results.setdefault((job, executor, phase), []).append((wall, own, run, steps))
            print(
                f"  {job:22} {executor:12} {phase:6} wall {wall:6.1f} s  run {run:6.1f} s  "
                f"steps {own:6.1f} s ({steps})  × {wall / own:5.2f}",
                flush=True,
            )


def _section(results: dict, rounds: int, posts: int) -> str:
    import dagster

    lines = [
        f"## orchestration: Dagster's overhead on both jobs (`uv run python -m bench.{NAME}`)",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, Dagster {dagster.__version__}; "
        f"the demo's data ({posts} posts per channel × 3 channels, the eBird replica), DuckDB "
        f"warehouse, SQLite instance; {rounds} interleaved rounds.",
        "",
        "Overhead = wall time of `dagster job execute -m orchestration.definitions -j <job>` "
        "(process start, imports, run and step launch included) ÷ the sum of the run's steps' "
        "own durations (STEP_START → STEP_SUCCESS): the steps' work is the baseline. "
        "*fresh*: empty data directory; *no-op*: the same job again with nothing new. "
        "min / median / max over the rounds.",
        "",
        "| job | executor | run | CLI wall s | run s | steps' own s | steps | overhead × |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for job in JOBS:
        for executor in EXECUTORS:
            for phase in PHASES:
                rows = results[(job, executor, phase)]
                walls = [r[0] for r in rows]
                owns = [r[1] for r in rows]
                runs = [r[2] for r in rows]
                ratios = [r[0] / r[1] for r in rows]
                lines.append(
                    f"| {job} | {executor} | {phase} | {spread(walls, 1)} | "
                    f"{spread(runs, 1)} | {spread(owns, 1)} | {rows[0][3]} | "
                    f"{spread(ratios)} |"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.orchestration")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--posts", type=int, default=240, help="posts per channel")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args(argv)

    from databox.demo import DEMO_EBIRD_TOKEN
    from databox.replica.ebird_api import EbirdApiReplica
    from databox.replica.telegram_web import TelegramWebReplica, build_demo_corpus
    from databox.samples import find_sample_photos

    corpus = build_demo_corpus(find_sample_photos(), posts_per_channel=args.posts)
    results: dict = {}
    root = Path(tempfile.mkdtemp(prefix="bench-orchestration-"))
    try:
        with TelegramWebReplica(corpus) as tme, EbirdApiReplica(token=DEMO_EBIRD_TOKEN) as ebird:
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds}", flush=True)
                order = EXECUTORS if r % 2 == 0 else EXECUTORS[::-1]
                for executor in order:
                    _round(root, (tme.base_url, ebird.base_url), executor, results)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    section = _section(results, args.rounds, args.posts)
    print(section)
    if not args.no_write:
        write_section(NAME, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
