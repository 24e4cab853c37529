"""Charts drawn once per distinct input, kept beside the report.

A chart is a pure function of its rows (databox.report.charts draws reproducibly:
the same rows give the same bytes), so a rerun with nothing new need not import
matplotlib and draw six figures again (~3 s of a no-op daily_pipeline_job). Each PNG
is stored under the hash of what made it: the chart's name, its inputs' ``repr``, the
drawing code (charts.py's bytes) and the installed Ethiopic fonts (which change the
glyphs). Entries a build did not use are removed, so the folder holds one report's.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

from databox.report import charts

FOLDER = ".charts"


@functools.cache
def _drawing_signature() -> bytes:
    code = Path(charts.__file__).read_bytes()
    try:
        fonts = subprocess.run(
            ["fc-list", ":lang=am", "file"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        fonts = ""
    return code + "\n".join(sorted(fonts.splitlines())).encode()


class ChartCache:
    def __init__(self, folder: Path):
        self.folder = folder
        self.used: set[str] = set()
        self.drawn = 0

    def chart(self, name: str, inputs: object, draw: Callable[[], bytes]) -> bytes:
        digest = hashlib.sha256(_drawing_signature())
        digest.update(f"{name}\0{inputs!r}".encode())
        path = self.folder / f"{name}-{digest.hexdigest()[:32]}.png"
        self.used.add(path.name)
        try:
            return path.read_bytes()
        except OSError:
            pass
        png = draw()
        self.drawn += 1
        from databox.report.build import write_atomically  # the report's own atomic write

        write_atomically(path, png)
        return png

    def prune(self) -> None:
        """Drop the entries this build did not use (the previous data's charts)."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*.png"):
            if path.name not in self.used:
                path.unlink(missing_ok=True)
