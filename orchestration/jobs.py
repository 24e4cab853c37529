"""Jobs and schedules."""

from __future__ import annotations

import dagster as dg

from orchestration.definition_settings import telegram_schedule
from orchestration.report import REPORT_GROUP
from orchestration.telegram_shared import TELEGRAM_GROUP

_CRON, _TIMEZONE = telegram_schedule()

#: Run tag the production run queue limits on (deploy/production/dagster.yaml:
#: tag_concurrency_limits, one run per value): one Telegram scrape run at a time.
PIPELINE_TAG = "databox/pipeline"

daily_pipeline_job = dg.define_asset_job(
    name="daily_pipeline_job",
    selection=dg.AssetSelection.groups(TELEGRAM_GROUP, REPORT_GROUP),
    tags={PIPELINE_TAG: "telegram"},
    description=(
        "Telegram: scrape channels → load raw into the warehouse → detect objects in the "
        "photos → load the detections → SQLMesh staging and marts → the HTML report."
    ),
)

daily_pipeline_schedule = dg.ScheduleDefinition(
    name="daily_pipeline_schedule",
    job=daily_pipeline_job,
    cron_schedule=_CRON,
    execution_timezone=_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Runs daily_pipeline_job once a day (TELEGRAM_SCHEDULE_CRON, TELEGRAM_SCHEDULE_TIMEZONE).",
)
