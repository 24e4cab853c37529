"""Databox: the application side of the platform.

Everything under this package is plain Python and never imports Dagster, so each
step (scrape, load, detect, transform) can be run and tested on its own. The
Dagster layer lives in the top-level ``orchestration`` package and only wires.
"""

__version__ = "0.1.0"
