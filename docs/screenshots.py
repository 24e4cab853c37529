"""Regenerate docs/ui-*.png: the Dagster UI path a newcomer follows after the demo.

Run by hand from the repository root (not by the test suite; about a minute, more when
the demo has to run first)::

    uv run python docs/screenshots.py            # demo data in data/demo, UI on :3000

It starts ``run_demo(ui=True, keep=True)`` (so the demo runs first only when its data
is missing), drives the UI with Playwright and the system Chromium (/usr/bin/chromium;
``playwright install`` is never needed), launches ``daily_pipeline_job`` the way the
README says, waits for the run to succeed, and stops the demo with SIGTERM. Each PNG is
palette-quantised to stay small (well under 200 KB).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DATABOX_CHROMIUM", "/usr/bin/chromium")
MAX_BYTES = 200_000
JOB_LINK = 'a[href$="/jobs/daily_pipeline_job"]'
VIEWPORT = {"width": 1280, "height": 760}
SERVE = (
    "import sys; from databox.demo import run_demo; "
    "sys.exit(run_demo(workdir=sys.argv[1], keep=True, ui=True, ui_port=int(sys.argv[2])))"
)


def start_demo_ui(workdir: str, port: int) -> tuple[subprocess.Popen, str]:
    """The demo UI in a subprocess; returns it and the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", SERVE, workdir, str(port)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 600  # a first demo run takes about a minute
    for line in proc.stdout:
        print(f"  demo | {line}", end="")
        if match := re.search(r"Dagster UI: (http://\S+)", line):
            # Keep draining its output, or the demo blocks on a full pipe.
            threading.Thread(target=lambda: [*proc.stdout], daemon=True).start()
            return proc, match.group(1)
        if time.monotonic() > deadline:
            break
    stop_demo(proc)
    raise SystemExit("screenshots: the demo UI never printed its URL (its output is above)")


def stop_demo(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the demo stops dagster dev and the replicas
        proc.wait(timeout=90)


def save(page, path: Path) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"screenshots: {path} is {size} bytes, over {MAX_BYTES}")
    print(f"wrote {path} ({size // 1024} KB)")


def close_modal_if_any(page) -> None:
    """The shipped instance disables the "join the community" pop-up (nux); if one shows
    anyway (another instance config), close it so it does not cover the page."""
    for name in ("Close", "Dismiss", "Skip", "No thanks"):
        button = page.get_by_role("button", name=name)
        if button.count() and button.first.is_visible():
            button.first.click()
            return


def highlight(locator) -> None:
    locator.evaluate(
        "el => { el.style.outline = '3px solid #e5484d'; el.style.outlineOffset = '2px'; }"
    )


def settle(page, ms: int = 1500) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(ms)  # the asset graph and run bars render after the data
    close_modal_if_any(page)


def capture(base: str, out: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport=VIEWPORT)
        try:
            page.goto(f"{base}/", wait_until="networkidle")
            settle(page)
            # 1. Jobs (left navigation): the code location's three jobs.
            jobs_link = page.locator('a[href="/jobs"]').first
            jobs_link.click()
            settle(page)
            highlight(jobs_link)
            highlight(page.locator(JOB_LINK).first)
            save(page, out / "ui-jobs.png")
            # 2. daily_pipeline_job: an asset job, so "Materialize all" (no Launchpad tab).
            page.locator(JOB_LINK).first.click()
            settle(page)
            # The graph's nodes show "Loading..." until the latest materialisations arrive.
            page.get_by_text("Materialized", exact=True).first.wait_for(timeout=60_000)
            materialize = page.get_by_role("button", name="Materialize all")
            highlight(materialize)
            save(page, out / "ui-job.png")
            # 3. The ▾ beside it → Open launchpad: the run config, EnvVars by name.
            box = materialize.bounding_box()
            page.mouse.click(box["x"] + box["width"] + 16, box["y"] + box["height"] / 2)
            page.get_by_role("menuitem", name="Open launchpad").click()
            launch = page.locator("button", has_text=re.compile(r"^\s*Materialize\s*$"))
            launch.wait_for()
            page.wait_for_timeout(1500)
            highlight(launch)
            save(page, out / "ui-launchpad.png")
            # 4. Launch it (the launchpad's Materialize = the page's Materialize all) and
            # follow the run to its end.
            launch.click()
            run_page = re.compile(r".*/runs/[0-9a-f-]{36}.*")
            try:  # the launchpad opens the new run's page itself ...
                page.wait_for_url(run_page, timeout=15_000)
            except PlaywrightTimeout:  # ... else the "Launched run" toast links to it
                page.get_by_role("button", name="View", exact=True).last.click()
                page.wait_for_url(run_page)
            page.get_by_text("Success", exact=True).first.wait_for(timeout=300_000)
            settle(page, 2500)
            # The scrape's log line shows where it went: the local t.me replica.
            page.get_by_placeholder("Filter…").or_(page.get_by_placeholder("Filter...")).fill(
                "scraping"
            )
            page.wait_for_timeout(1000)
            save(page, out / "ui-run.png")
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="data/demo", help="the demo's directory")
    parser.add_argument("--port", type=int, default=3000, help="the UI's port")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs", help="where PNGs go")
    parser.add_argument("--url", help="use a demo UI already running there instead")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.url:
        capture(args.url.rstrip("/"), args.out)
        return 0
    proc, base = start_demo_ui(args.dir, args.port)
    try:
        capture(base, args.out)
    finally:
        stop_demo(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
