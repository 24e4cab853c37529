/* Per region, day and species: how many checklists reported it, how many birds were
   counted, and how many reports only noted its presence ("X", no count).

   Incremental by obs_date like its source: a day's counts depend on that day's
   observations only, so restating a range of stg_ebird_observations restates exactly
   the same range here. */
MODEL (
  name marts.fct_daily_species_counts,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column obs_date,
    lookback 30
  ),
  grain (region_code, obs_date, species_code),
  audits (
    not_null(columns := (region_code, obs_date, species_code, checklists)),
    unique_combination_of_columns(columns := (region_code, obs_date, species_code)),
    accepted_range(column := checklists, min_v := 1),
    accepted_range(column := individuals_counted, min_v := 0),
    accepted_range(column := presence_only_reports, min_v := 0),
    not_in_future(column := obs_date)
  )
);

SELECT
  region_code,
  obs_date,
  species_code,
  MAX(com_name) AS com_name,
  COUNT(DISTINCT sub_id) AS checklists,
  COUNT(*) AS observations,
  /* 0, not NULL, when every report was presence-only: nothing was counted. */
  CAST(COALESCE(SUM(how_many), 0) AS BIGINT) AS individuals_counted,
  CAST(SUM(CASE WHEN is_presence_only THEN 1 ELSE 0 END) AS BIGINT) AS presence_only_reports
FROM staging.stg_ebird_observations
WHERE obs_date BETWEEN @start_date AND @end_date
GROUP BY region_code, obs_date, species_code
