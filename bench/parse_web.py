"""The t.me/s parser against a bare selectolax parse of the same pages.

``uv run python -m bench.parse_web`` parses every page of the demo corpus (as the
replica renders it) and the every-kind fixture page, in interleaved rounds, and
writes the ratio ``parse_channel_page / bare parse`` (min, median, max of the rounds)
to bench/RESULTS.md. The baseline is the floor any parser of these pages pays:
selectolax building the tree and selecting the message blocks, nothing read.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from bench.results import write_section
from databox.replica.telegram_web import build_demo_corpus, render_channel_page
from databox.samples import find_sample_photos
from databox.telegram.web_parse import parse_channel_page

KINDS_PAGE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tme" / "kinds.html"


def demo_pages(page_size: int = 20) -> list[tuple[str, str]]:
    """``(html, channel)`` of every page of the demo corpus, as the replica serves it."""
    corpus = build_demo_corpus(find_sample_photos())
    pages = []
    for channel in corpus.channels.values():
        if not channel.has_preview:
            continue
        posts = channel.sorted_posts()
        for end in range(len(posts), 0, -page_size):
            chunk = posts[max(0, end - page_size) : end]
            before = chunk[0].id if end - page_size > 0 else None
            html = render_channel_page(
                channel, chunk, before=before, after=None, base_url="http://127.0.0.1:1"
            )
            pages.append((html, channel.username))
    return pages


def _time(fn, pages: list[tuple[str, str]]) -> float:
    started = time.perf_counter()
    for html, channel in pages:
        fn(html, channel)
    return time.perf_counter() - started


def measure(pages: list[tuple[str, str]], rounds: int) -> tuple[list[float], float, float]:
    def bare(html: str, _channel: str) -> object:
        return LexborHTMLParser(html).css("div.tgme_widget_message")

    ratios, ours_t, bare_t = [], [], []
    for _ in range(rounds):  # interleaved, so a drift of the machine hits both alike
        b = _time(bare, pages)
        o = _time(parse_channel_page, pages)
        bare_t.append(b)
        ours_t.append(o)
        ratios.append(o / b)
    return ratios, statistics.median(ours_t), statistics.median(bare_t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    sets = {
        "demo corpus, every page": demo_pages(),
        "kinds.html (every kind, 26 posts)": [(KINDS_PAGE.read_text(), "pharmakinds")] * 20,
    }
    rows = []
    for name, pages in sets.items():
        ratios, ours, bare = measure(pages, args.rounds)
        n_posts = sum(len(parse_channel_page(h, c).posts) for h, c in pages)
        rows.append(
            f"| {name} | {len(pages)} | {n_posts:,} | {bare:.3f} | {ours:.3f} | "
            f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f} |"
        )
        print(rows[-1])
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"""## parse_web: the t.me/s parser against a bare parse

Run `uv run python -m bench.parse_web` on {now}: {platform.machine()}, Python
{platform.python_version()}, {args.rounds} interleaved rounds. Baseline: selectolax
parsing the page and selecting `div.tgme_widget_message` (the floor of any parser of
these pages). Ratio = `parse_channel_page` seconds / baseline seconds, min / median /
max over the rounds; the seconds are the medians for all pages of the set.

| pages | pages | posts | baseline s | parser s | ratio min / median / max |
| --- | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}
"""
    write_section("parse_web", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
