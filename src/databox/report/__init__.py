"""A self-contained HTML report of both pipelines (``databox report``).

``build_report(url)`` reads the Telegram and eBird marts, draws one chart per section
and writes ``report.html`` (pictures embedded, nothing fetched when opened). Importing
this package is cheap: matplotlib is imported only while charts are drawn, so the
Dagster code server can import it at load.

Modules: ``queries`` (what is read, and the "no data yet" notes), ``charts``
(matplotlib → small PNGs), ``html`` (the page), ``build`` (putting them together).
"""

from __future__ import annotations

from databox.report.build import (
    Report,
    ReportUnavailable,
    build_report,
    charts_markdown,
    default_processed_dir,
    default_reports_dir,
)
from databox.report.queries import SECTIONS

__all__ = [
    "SECTIONS",
    "Report",
    "ReportUnavailable",
    "build_report",
    "charts_markdown",
    "default_processed_dir",
    "default_reports_dir",
]
