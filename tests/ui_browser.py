"""Driving the demo's Dagster UI in headless Chromium (Playwright), for tests/test_demo_ui.py.

The selectors are the pinned Dagster 1.13 UI's (the same path docs/screenshots.py takes):
the global lineage is ``/asset-groups``; its groups open collapsed, and the graph's settings
button (the gear at the bottom right) → *Expand all groups* opens them (⌥E; the page then
carries ``?expanded=…`` in its URL). An asset job has no Launchpad tab: Jobs → the job →
the ▾ beside *Materialize all* → *Open launchpad* → *Materialize*.

Debian's /usr/bin/chromium is used as is (``playwright install`` is never needed).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.dagster_helpers import REPO_ROOT

CHROMIUM = os.environ.get("DATABOX_CHROMIUM", "/usr/bin/chromium")
#: Screenshots of the browser test, git-ignored; kept after the run for a human to look at.
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
#: Wide enough that the fitted lineage graph draws full nodes (a smaller viewport zooms out
#: to "minimal" nodes whose names are middle-truncated, e.g. ``hist…_observations``).
VIEWPORT = {"width": 1920, "height": 1500}
RUN_PAGE = re.compile(r".*/runs/([0-9a-f-]{36}).*")
RUN_STATUS = "query ($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def chromium_available() -> str | None:
    """None when the browser test can run, else why not (the skip reason)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (DATABOX_CHROMIUM names another)"
    return None


class OffMachineRequests:
    """Every request the page makes to anywhere but 127.0.0.1, where the UI and the
    replicas listen (inline data: and blob: URLs never hit the network)."""

    LOCAL = frozenset({"127.0.0.1"})

    def __init__(self, page):
        self.urls: list[str] = []
        page.on("request", self._seen)

    def _seen(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob"):
            return
        if parts.hostname not in self.LOCAL:
            self.urls.append(request.url)


def settle(page, ms: int = 1500) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(ms)  # the graph lays out and the run bars render after the data


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def open_expanded_lineage(page, base: str) -> list[str]:
    """The global lineage with every group expanded; the asset names its nodes show."""
    page.goto(f"{base}/asset-groups", wait_until="networkidle")
    settle(page)
    page.get_by_role("button", name="settings", exact=True).click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.wait_for_url(re.compile(r".*[?&]expanded=.*"))
    names = page.locator('[class*="AssetNode_assetName"]')
    names.first.wait_for()
    settle(page)
    page.keyboard.press("Escape")  # close the settings menu before the screenshot
    page.wait_for_timeout(300)
    return names.all_inner_texts()


def launch_from_launchpad(page, base: str, job: str) -> str:
    """Jobs → ``job`` → ▾ → Open launchpad → Materialize; the new run's id."""
    page.goto(f"{base}/jobs", wait_until="networkidle")
    page.locator(f'a[href$="/jobs/{job}"]').first.click()
    settle(page)
    materialize = page.get_by_role("button", name="Materialize all")
    materialize.wait_for()
    # The ▾ is a separate button glued to the right of "Materialize all".
    box = materialize.bounding_box()
    page.mouse.click(box["x"] + box["width"] + 16, box["y"] + box["height"] / 2)
    page.get_by_role("menuitem", name="Open launchpad").click()
    # On a fresh instance the UI first warns that upstream assets outside the job (the
    # eBird marts the report reads) were never materialized; the report says so itself.
    confirm = page.get_by_role("button", name="Confirm", exact=True)
    with contextlib.suppress(Exception):
        confirm.wait_for(timeout=3_000)
        confirm.click()
    launch = page.locator("button", has_text=re.compile(r"^\s*Materialize\s*$"))
    try:
        launch.wait_for()
    except Exception:
        shot(page, "launchpad-failed.png")  # what the page showed instead
        raise
    launch.click()
    try:  # the launchpad opens the new run's page itself ...
        page.wait_for_url(RUN_PAGE, timeout=15_000)
    except Exception:  # ... else the "Launched run" toast links to it
        page.get_by_role("button", name="View", exact=True).last.click()
        page.wait_for_url(RUN_PAGE)
    return RUN_PAGE.match(page.url).group(1)


def wait_for_run(base: str, run_id: str, timeout: float = 300) -> str:
    """Poll GraphQL until the run has finished; its final status."""
    deadline = time.monotonic() + timeout
    while True:
        reply = httpx.post(
            f"{base}/graphql",
            json={"query": RUN_STATUS, "variables": {"id": run_id}},
            timeout=30,
        )
        status = reply.json()["data"]["runOrError"].get("status")
        if status in FINISHED or time.monotonic() > deadline:
            return status
        time.sleep(1)


def open_asset(page, base: str, key: str) -> None:
    """The asset's page (Overview tab: its latest materialisation's metadata)."""
    page.goto(f"{base}/assets/{key}", wait_until="networkidle")
    settle(page, 2500)


def data_uri_images(page) -> list[str]:
    """The ``src`` of every inline picture (``<img src="data:image/…">``) the asset page
    shows. Markdown metadata too long for the table is behind a *[Show Markdown]* button
    that opens a dialog: each is opened until one holds pictures (left open, for the
    screenshot)."""
    inline = page.locator('img[src^="data:image"]')
    if inline.count():
        return inline.evaluate_all("els => els.map(e => e.src)")
    buttons = page.get_by_text("[Show Markdown]", exact=True)
    for i in range(buttons.count()):
        buttons.nth(i).click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for()
        page.wait_for_timeout(500)
        found = dialog.locator('img[src^="data:image"]')
        if found.count():
            return found.evaluate_all("els => els.map(e => e.src)")
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
    return []
