"""``databox_report``: the HTML report of both pipelines (databox.report), as an asset.

Downstream of the Telegram marts and the eBird marts it draws from, in
``daily_pipeline_job`` (which runs after the morning's eBird job: the report shows
whatever eBird data is there, and says so for what is not). The same charts are in the
metadata as markdown images, so the Dagster UI shows them without opening the file.
"""

import dagster as dg

from databox.report.queries import SECTIONS
from orchestration.resources import DetectorResource, WarehouseResource
from orchestration.telegram_shared import TRANSIENT_RETRY, WAREHOUSE_POOL, markdown_table

REPORT_GROUP = "reports"

#: The marts the report reads (one per section of databox.report), for the lineage.
REPORT_SOURCES = [dg.AssetKey(section.table.split(".")) for section in SECTIONS]


@dg.asset(
    group_name=REPORT_GROUP,
    deps=REPORT_SOURCES,
    kinds={"python", "html"},
    pool=WAREHOUSE_POOL,  # DuckDB: a reader cannot open the file while a step writes it
    retry_policy=TRANSIENT_RETRY,
    description=(
        "A self-contained HTML report of both pipelines in DATABOX_REPORTS_DIR "
        "(default data/reports/report.html): daily posts and views per channel, image "
        "categories, top product terms, top detected objects with annotated photos, eBird "
        "species per region and day, notable sightings. Opens offline (everything "
        "embedded); a section whose mart is not built yet says which job builds it."
    ),
)
def databox_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, detector: DetectorResource
) -> dg.MaterializeResult:
    from databox.report import build_report, charts_markdown, default_reports_dir

    report = build_report(
        warehouse.settings().database_url,
        out_dir=default_reports_dir(),
        processed_dir=detector.settings().processed_dir,
    )
    for name in report.sections_missing:
        context.log.warning(f"report section {name}: {report.notes[name]}")
    figures = [{"figure": k, "value": v} for k, v in report.figures.items()]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.path)),
            "sections_with_data": len(report.sections_with_data),
            "sections_missing": ", ".join(report.sections_missing) or "none",
            # The rest were unchanged since the last build: taken from its chart cache.
            "charts_drawn": report.charts_drawn,
            "figures": dg.MetadataValue.md(markdown_table(figures, ["figure", "value"])),
            "charts": dg.MetadataValue.md(charts_markdown(report)),
        }
    )
