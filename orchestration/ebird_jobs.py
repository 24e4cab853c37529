"""eBird job, schedule and sensor.

Design: one run of ``daily_ebird_pipeline`` per day. The schedule (06:00 in
``EBIRD_SCHEDULE_TIMEZONE``) is the normal trigger; the sensor checks the API with the
token on a cheap endpoint and requests the day's run once the API is usable (e.g. when
it was down at 06:00, or when the schedule is off). Both tag their runs with the day
(``ebird/date``) and skip when a run for that day is queued, running or succeeded, so
they never start two runs for the same day; a failed run does not count, so the
sensor retries the day once the API is back. The sensor's run key is the day plus the
number of failed attempts that day, so Dagster itself refuses a second request for the
same attempt, while a retry after a failure gets a fresh key.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.definition_settings import ebird_sensor_interval, ebird_timezone
from orchestration.ebird_assets import DATE_TAG, EBIRD_GROUP, ebird_historic_assets
from orchestration.jobs import PIPELINE_TAG
from orchestration.resources import EbirdResource

JOB_NAME = "daily_ebird_pipeline"
TIMEZONE = ebird_timezone()
ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.SUCCESS,
]

daily_ebird_pipeline = dg.define_asset_job(
    name=JOB_NAME,
    selection=dg.AssetSelection.groups(EBIRD_GROUP)
    - dg.AssetSelection.assets(ebird_historic_assets),
    # One eBird ingestion run at a time under the production queue (daily and backfill
    # share the value: both write the same dlt pipeline state).
    tags={PIPELINE_TAG: "ebird"},
    description="eBird: dlt ingestion → SQLMesh staging and marts → data quality checks.",
)

ebird_historic_backfill = dg.define_asset_job(
    name="ebird_historic_backfill",
    selection=dg.AssetSelection.assets(ebird_historic_assets),
    tags={PIPELINE_TAG: "ebird"},
    description="Historic eBird observations for one date per partition (backfills).",
)


def run_for_day_exists(instance: dg.DagsterInstance, day: str) -> bool:
    records = instance.get_run_records(
        dg.RunsFilter(job_name=JOB_NAME, tags={DATE_TAG: day}, statuses=ACTIVE), limit=1
    )
    return bool(records)


def failed_attempts(instance: dg.DagsterInstance, day: str) -> int:
    return len(
        instance.get_run_records(
            dg.RunsFilter(
                job_name=JOB_NAME,
                tags={DATE_TAG: day},
                statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
            )
        )
    )


def _request(instance: dg.DagsterInstance, day: str, source: str) -> dg.RunRequest:
    attempt = failed_attempts(instance, day)
    run_key = f"{JOB_NAME}:{day}" + (f":retry{attempt}" if attempt else "")
    return dg.RunRequest(run_key=run_key, tags={DATE_TAG: day, "ebird/trigger": source})


@dg.schedule(
    name="daily_ebird_schedule",
    job=daily_ebird_pipeline,
    cron_schedule="0 6 * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="daily_ebird_pipeline at 06:00 (EBIRD_SCHEDULE_TIMEZONE), once per day.",
)
def daily_ebird_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date().isoformat()
    if run_for_day_exists(context.instance, day):
        return dg.SkipReason(f"{JOB_NAME} already ran (or is running) for {day}")
    return _request(context.instance, day, "schedule")


@dg.sensor(
    name="ebird_api_availability_sensor",
    job=daily_ebird_pipeline,
    minimum_interval_seconds=ebird_sensor_interval(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Checks the eBird API with the token; requests today's daily_ebird_pipeline run "
        "once the API is usable, at most one per day."
    ),
)
def ebird_api_availability_sensor(context: dg.SensorEvaluationContext, ebird: EbirdResource):
    from databox.ebird.check import check_api

    day = datetime.now(ZoneInfo(TIMEZONE)).date().isoformat()
    if run_for_day_exists(context.instance, day):
        return dg.SkipReason(f"{JOB_NAME} already ran (or is running) for {day}")
    settings = ebird.settings()
    ok, reason = check_api(settings.api_base_url, settings.api_token, region=settings.regions[0])
    if not ok:
        return dg.SkipReason(f"eBird API not usable: {reason}")
    return _request(context.instance, day, "sensor")
