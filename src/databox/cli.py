"""The ``databox`` command line: the application steps without Dagster.

databox scrape            scrape the configured channels into the lake
databox load              load new/changed lake files into the warehouse
databox status            what the lake and the warehouse hold, for every pipeline
databox report            a self-contained HTML report of both pipelines (charts, tables)
databox config            the effective settings, where each came from, and any problem
databox demo              offline demo: local replicas → both pipelines → DuckDB (--ui: browse it)
databox telegram login    create a Telethon StringSession once
databox replica telegram  serve the local t.me replica (for trying things by hand)
databox replica ebird     serve the local eBird API replica
databox deploy up         the production topology on this host (deploy/production)
databox deploy check      whether the instance database, the broker and the warehouse answer
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Sequence

from databox.cli_errors import describe_error, port_in_use_is_usage
from databox.config import DEFAULT_DEMO_DIR, Settings, demo_paths, parse_channels, read_settings
from databox.preflight import check_dir, check_warehouse, require

EPILOG = """\
exit codes:
  0    success
  1    the work failed: a channel could not be scraped, load errors remain unresolved,
       the warehouse went away mid-run, or an unexpected error
  2    bad usage or configuration: each problem is one "databox: error:" line naming
       the variable, its value and the fix
  130  interrupted (Ctrl-C)

Errors are one line each; --debug (before or after the command) adds the traceback."""


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _environment(args: argparse.Namespace) -> tuple[dict[str, str], set[str]]:
    """The variables a command reads (process environment, then ``.env`` for what is
    unset, then the demo's paths with ``--demo``) and which of them ``--demo`` set."""
    from databox.config import load_dotenv_file

    load_dotenv_file()
    env = dict(os.environ)
    demo = demo_paths(args.demo) if getattr(args, "demo", None) else {}
    env.update(demo)
    return env, set(demo)


def _checked_settings(
    args: argparse.Namespace, *, lake: str | None = None, warehouse: str | None = None
) -> Settings:
    """Settings validated together with what the command needs: ``lake`` "read",
    "update" or "write"; ``warehouse`` "write" (may be created) or "read". Every
    problem is collected first, then raised as one ConfigError (exit 2)."""
    env, _ = _environment(args)
    settings, problems = read_settings(env)
    if lake:
        problems += check_dir(
            "DATA_LAKE_DIR",
            settings.data_lake_dir,
            "data/lake",
            mode=lake,
            hint=_no_lake_hint(args),
        )
    url_reported = any(p.startswith("DATABASE_URL") for p in problems)
    if warehouse and not url_reported:  # a malformed URL was already reported
        problems += check_warehouse(settings.database_url, create=warehouse == "write")
    require(problems)
    return settings


def _no_lake_hint(args: argparse.Namespace) -> str:
    demo = getattr(args, "demo", None)
    if demo:
        again = "" if demo == str(DEFAULT_DEMO_DIR) else f" --dir {demo}"
        return f"the demo has not run there yet: run `databox demo{again}` first"
    return (
        "nothing has been scraped there: check for a typo, run `databox scrape` first, or "
        "point DATA_LAKE_DIR at the lake (default data/lake)"
    )


def cmd_scrape(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from databox.telegram.scrape import scrape_channels

    settings = _checked_settings(args, lake="write")
    if args.channels:
        settings = replace(settings, telegram_channels=parse_channels(args.channels, "--channels"))
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
    if report.hint:
        print(report.hint, file=sys.stderr)
    return 0 if report.ok else 1


def cmd_load(args: argparse.Namespace) -> int:
    from databox.lake import DataLake
    from databox.telegram.load import load_raw_messages
    from databox.warehouse import connect

    settings = _checked_settings(args, lake="update", warehouse="write")
    report = load_raw_messages(
        connect(settings.database_url), DataLake(settings.data_lake_dir), log=_log
    )
    print(
        f"files: {report.files_loaded} loaded, {report.files_skipped} unchanged, "
        f"{report.files_failed} failed; rows: {report.rows_inserted} inserted, "
        f"{report.rows_updated} updated, {report.rows_unchanged} unchanged ({report.seconds:.2f} s)"
    )
    for error in report.errors:
        print(f"  ERROR {error}", file=sys.stderr)
    # ok is False while load errors remain unresolved, including earlier runs' errors.
    return 0 if report.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    from databox.status_report import print_status

    print_status(_checked_settings(args, lake="read", warehouse="read"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from databox.config import resolve_path
    from databox.report import build_report, default_reports_dir

    # The warehouse is not checked up front: one that cannot be read is exit 1
    # (ReportUnavailable, naming it), a malformed setting still exit 2.
    settings = _checked_settings(args)
    env, _ = _environment(args)
    if args.out:
        out = resolve_path(args.out)
    elif args.demo and not env.get("DATABOX_REPORTS_DIR"):
        out = resolve_path(args.demo) / "reports"  # the demo's report stays with its data
    else:
        out = default_reports_dir(env)
    report = build_report(settings.database_url, out_dir=Path(out),
                          processed_dir=settings.processed_dir)  # fmt: skip
    print(report.path)
    for name in report.sections_missing:
        print(f"  {name}: {report.notes[name]}", file=sys.stderr)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from databox.config_report import config_report

    env, demo_vars = _environment(args)
    lines, problems = config_report(env, demo_vars)
    print("\n".join(lines), flush=True)
    require(problems)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from databox.demo import run_demo

    return run_demo(workdir=args.dir, keep=args.keep, log=_log, ui=args.ui, ui_port=args.port)


def cmd_telegram_login(args: argparse.Namespace) -> int:
    from databox.telegram.login import login_main

    return login_main(args.rest)


def cmd_replica_telegram(args: argparse.Namespace) -> int:
    from databox.replica.telegram_web import main as replica_main

    # It prints the variable to set: TELEGRAM_WEB_BASE_URL=http://127.0.0.1:<port>.
    with port_in_use_is_usage(args.port):
        return replica_main(["--port", str(args.port)]) or 0


def cmd_replica_ebird(args: argparse.Namespace) -> int:
    from databox.replica.ebird_api import EbirdApiReplica, build_dataset

    regions = ("US-NY", "US-CA", "KE")
    dataset = build_dataset(regions=regions)
    with (
        port_in_use_is_usage(args.port),
        EbirdApiReplica(dataset, token=args.token, port=args.port) as replica,
    ):
        print(f"eBird API replica on {replica.base_url} ({len(dataset.observations)} observations)")
        # Everything the eBird pipeline needs to talk to it (the token is the replica's own).
        print(
            f"Use it with: EBIRD_API_BASE_URL={replica.base_url} EBIRD_API_TOKEN={args.token} "
            f"EBIRD_REGIONS={','.join(regions)}   (Ctrl-C stops)",
            flush=True,
        )
        replica.serve_until_stopped()
    return 0


def cmd_deploy_up(args: argparse.Namespace) -> int:
    from pathlib import Path

    from databox.config import load_dotenv_file
    from databox.deploy.up import deploy_up

    load_dotenv_file()
    return deploy_up(host=args.host, port=args.port, workers=args.workers,
                     grpc_port=args.grpc_port, home=Path(args.home), log=_log)  # fmt: skip


def cmd_deploy_check(args: argparse.Namespace) -> int:
    from databox.config import load_dotenv_file
    from databox.deploy.check import deploy_problems

    load_dotenv_file()
    require(deploy_problems(os.environ))
    print("deploy check: the Dagster instance database, the broker and the warehouse answer")
    return 0


def _add_demo_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--demo",
        nargs="?",
        const=str(DEFAULT_DEMO_DIR),
        metavar="DIR",
        help=f"read the data `databox demo` made in DIR (default {DEFAULT_DEMO_DIR})",
    )


def build_parser() -> argparse.ArgumentParser:
    # --debug is accepted before or after the command; SUPPRESS keeps the global value
    # when a subcommand does not repeat it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="databox",
        description="Databox's pipeline steps without Dagster, and helpers around them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str, func, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, parents=[common], epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        p.set_defaults(func=func)
        return p

    p = command("scrape", "scrape the configured Telegram channels into the lake", cmd_scrape)
    p.add_argument("--channels", help="comma list overriding TELEGRAM_CHANNELS")
    _add_demo_option(command("load", "load new or changed lake files into the warehouse", cmd_load))
    _add_demo_option(command("status", "what the lake and the warehouse hold", cmd_status))
    p = command("report", "write a self-contained HTML report of both pipelines", cmd_report)
    _add_demo_option(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where to write report.html (default DATABOX_REPORTS_DIR, else data/reports; "
        "with --demo: DIR/reports)",
    )
    _add_demo_option(
        command("config", "the effective settings and their sources, secrets redacted", cmd_config)
    )
    p = command("demo", "offline demo against local replicas of the external APIs", cmd_demo)
    p.add_argument(
        "--dir",
        default=str(DEFAULT_DEMO_DIR),
        help="working directory (recreated; default data/demo)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the previous demo data instead of starting fresh"
    )
    p.add_argument(
        "--ui",
        action="store_true",
        help="afterwards keep the replicas serving and run the Dagster UI on the demo's data "
        "until Ctrl-C",
    )
    p.add_argument("--port", type=int, default=3000, help="the Dagster UI's port (default 3000)")

    tg = sub.add_parser("telegram", help="Telegram helpers").add_subparsers(
        dest="tg_command", required=True
    )
    p = command(
        "login", "create a Telethon StringSession once (interactive)", cmd_telegram_login, tg
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)

    rep = sub.add_parser("replica", help="local replicas of external APIs").add_subparsers(
        dest="replica_command", required=True
    )
    p = command("telegram", "serve the t.me web preview replica", cmd_replica_telegram, rep)
    p.add_argument("--port", type=int, default=8081)
    p = command("ebird", "serve the eBird API 2.0 replica", cmd_replica_ebird, rep)
    p.add_argument("--port", type=int, default=8082)
    p.add_argument("--token", default="test-token", help="the X-eBirdApiToken it accepts")

    from databox.deploy import processes as dp

    dep = sub.add_parser("deploy", help="the production topology").add_subparsers(
        dest="deploy_command", required=True
    )
    p = command("up", "start the production topology on this host until Ctrl-C", cmd_deploy_up, dep)
    p.add_argument("--host", default=dp.DEFAULT_HOST, help="the UI's address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=dp.DEFAULT_PORT, help="the UI's port (default 3000)")
    p.add_argument(
        "--workers", type=int, default=dp.DEFAULT_WORKERS, help="celery workers (default 2)"
    )
    p.add_argument(
        "--grpc-port",
        type=int,
        default=dp.DEFAULT_GRPC_PORT,
        help="the code server's port (default 4266)",
    )
    p.add_argument(
        "--home",
        default="data/deploy/dagster_home",
        help="DAGSTER_HOME to use (default data/deploy/dagster_home)",
    )
    command(
        "check", "check the instance database, the broker and the warehouse", cmd_deploy_check, dep
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # bad usage: argparse prints it, exits 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        code, problems = describe_error(exc)
        for problem in problems:
            # One line per problem; a multi-line message (how to get a model) is indented.
            print(f"databox: error: {problem}".replace("\n", "\n  "), file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
