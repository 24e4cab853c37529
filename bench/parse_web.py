"""The t.me/s parser against a bare selectolax parse of the same pages.

``uv run python -m bench.parse_web`` parses every page of the demo corpus (as the
replica renders it) and the every-kind fixture page, in interleaved rounds (the two
parsers alternate page by page, timed in this thread's CPU seconds), and writes the
ratio ``parse_channel_page / bare parse`` (min, median, max of the rounds) to
bench/RESULTS.md. The baseline is the floor any parser of these pages pays:
selectolax building the tree and selecting the message blocks, nothing read.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from bench.results import spread, write_section
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


def measure(pages: list[tuple[str, str]], rounds: int) -> tuple[list[float], float, float]:
    """Per round, the summed seconds of each parser over every page, paired page by page
    (bare, ours; the order flips every round) so a burst of load from the other users
    of this shared machine hits both alike. Seconds are this thread's CPU time
    (``time.thread_time``): time the thread spends descheduled is not parsing."""

    def bare(html: str, _channel: str) -> object:
        return LexborHTMLParser(html).css("div.tgme_widget_message")

    clock = time.thread_time
    ratios, ours_t, bare_t = [], [], []
    for round_ in range(rounds):
        first, second = (
            (bare, parse_channel_page) if round_ % 2 == 0 else (parse_channel_page, bare)
        )
        spent = {first: 0.0, second: 0.0}
        for html, channel in pages:
            t0 = clock()
            first(html, channel)
            t1 = clock()
            second(html, channel)
            t2 = clock()
            spent[first] += t1 - t0
            spent[second] += t2 - t1
        bare_t.append(spent[bare])
        ours_t.append(spent[parse_channel_page])
        ratios.append(spent[parse_channel_page] / spent[bare])
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
    load = os.getloadavg()[0]
    for name, pages in sets.items():
        ratios, ours, bare = measure(pages, args.rounds)
        n_posts = sum(len(parse_channel_page(h, c).posts) for h, c in pages)
        rows.append(
            f"| {name} | {len(pages)} | {n_posts:,} | {bare:.3f} | {ours:.3f} | {spread(ratios)} |"
        )
        print(rows[-1])
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"""## parse_web: the t.me/s parser against a bare parse

Run `uv run python -m bench.parse_web` on {now}: {platform.machine()}, Python
{platform.python_version()}, {args.rounds} interleaved rounds. Baseline: selectolax
parsing the page and selecting `div.tgme_widget_message` (the floor of any parser of
these pages). Within a round the two run page by page, alternately (bare then parser,
then the other way round the next round), and each is timed in this thread's CPU
seconds, so load from other users of the machine hits both alike. Ratio =
`parse_channel_page` seconds / baseline seconds over all pages of the set, min / median
/ max over the rounds; the seconds are the medians of the rounds. Load average (2
cores, shared) {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.

| pages | pages | posts | baseline s | parser s | ratio min / median / max |
| --- | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}
"""
    write_section("parse_web", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
