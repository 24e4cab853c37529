"""The ``databox`` command line: the application steps without Dagster.

databox scrape            scrape the configured channels into the lake
databox load              load new/changed lake files into the warehouse
databox status            what the lake and the warehouse hold
databox config            the effective settings (secrets redacted)
databox demo              offline demo: local t.me replica → daily_pipeline_job → DuckDB
databox telegram login    create a Telethon StringSession once
databox replica telegram  serve the local t.me replica (for trying things by hand)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from databox.config import Settings
from databox.errors import DataboxError


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cmd_scrape(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from databox.config import parse_channels
    from databox.telegram.scrape import scrape_channels

    settings = Settings.from_env()
    if args.channels:
        settings = replace(settings, telegram_channels=parse_channels(args.channels))
    report = scrape_channels(settings, log=_log)
    for c in report.channels:
        status = "ok" if c.ok else f"FAILED: {c.error}"
        photos = f", {c.photos_pending} photos pending a retry" if c.photos_pending else ""
        print(
            f"  {c.channel:<24} {c.posts:>6} new posts {c.service_messages:>4} service "
            f"{c.images:>6} images{photos}  {status}"
        )
    print(
        f"scraped {report.posts} posts ({report.service_messages} service messages), "
        f"{report.images} images in {report.seconds:.1f} s"
    )
    return 0 if report.ok else 1


def cmd_load(args: argparse.Namespace) -> int:
    from databox.lake import DataLake
    from databox.telegram.load import load_raw_messages
    from databox.warehouse import connect

    settings = Settings.from_env()
    report = load_raw_messages(
        connect(settings.database_url), DataLake(settings.data_lake_dir), log=_log
    )
    print(
        f"files: {report.files_loaded} loaded, {report.files_skipped} unchanged, "
        f"{report.files_failed} failed; rows: {report.rows_inserted} inserted, "
        f"{report.rows_updated} updated, {report.rows_unchanged} unchanged ({report.seconds:.2f} s)"
    )
    for error in report.errors:
        print(f"  ERROR {error.source_file}: {error.message}", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    from databox.lake import DataLake
    from databox.telegram.load import warehouse_status
    from databox.warehouse import connect

    settings = Settings.from_env()
    lake = DataLake(settings.data_lake_dir)
    print(f"lake: {lake.root}")
    for channel in settings.telegram_channels:
        print(f"  {channel:<24} watermark {lake.read_watermark(channel)}")
    print(f"warehouse: {Settings.redacted(settings)['database_url']}")
    status = warehouse_status(connect(settings.database_url))
    channels = status.pop("channels", {})
    for key, value in status.items():
        print(f"  {key}: {value}")
    for channel, info in channels.items():
        print(
            f"  {channel:<24} {info['rows']:>7} rows, newest message {info['newest_message_date']}, "
            f"last loaded {info['last_loaded_at']}"
        )
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    for key, value in Settings.from_env().redacted().items():
        print(f"{key} = {value}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from databox.demo import run_demo

    return run_demo(workdir=args.dir, keep=args.keep, log=_log)


def cmd_telegram_login(args: argparse.Namespace) -> int:
    from databox.telegram.login import login_main

    return login_main(args.rest)


def cmd_replica_telegram(args: argparse.Namespace) -> int:
    from databox.replica.telegram_web import main as replica_main

    return replica_main(["--port", str(args.port)]) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="databox", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("scrape", help="scrape the configured Telegram channels into the lake")
    p.add_argument("--channels", help="comma list overriding TELEGRAM_CHANNELS")
    p.set_defaults(func=cmd_scrape)
    sub.add_parser("load", help="load new or changed lake files into the warehouse").set_defaults(
        func=cmd_load
    )
    sub.add_parser("status", help="what the lake and the warehouse hold").set_defaults(
        func=cmd_status
    )
    sub.add_parser("config", help="show the effective settings, secrets redacted").set_defaults(
        func=cmd_config
    )
    p = sub.add_parser("demo", help="offline demo against local replicas of the external APIs")
    p.add_argument(
        "--dir", default="data/demo", help="working directory (recreated; default data/demo)"
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the previous demo data instead of starting fresh"
    )
    p.set_defaults(func=cmd_demo)

    tg = sub.add_parser("telegram", help="Telegram helpers").add_subparsers(
        dest="tg_command", required=True
    )
    p = tg.add_parser("login", help="create a Telethon StringSession once (interactive)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_telegram_login)

    rep = sub.add_parser("replica", help="local replicas of external APIs").add_subparsers(
        dest="replica_command", required=True
    )
    p = rep.add_parser("telegram", help="serve the t.me web preview replica")
    p.add_argument("--port", type=int, default=8081)
    p.set_defaults(func=cmd_replica_telegram)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DataboxError as exc:
        print(f"databox: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
