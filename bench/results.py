"""bench/RESULTS.md: one section per benchmark, each rewritten by its own run."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from pathlib import Path

RESULTS_MD = Path(__file__).with_name("RESULTS.md")


def spread(values: Iterable[float], digits: int = 2) -> str:
    """``min / median / max`` of a benchmark's rounds, the form every table reports."""
    values = list(values)
    return " / ".join(
        f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def write_section(name: str, section: str, path: Path = RESULTS_MD) -> None:
    """Replace benchmark ``name``'s section (delimited by its markers) or append it."""
    start, end = markers(name)
    if not section.startswith(start):
        section = f"{start}\n{section.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
