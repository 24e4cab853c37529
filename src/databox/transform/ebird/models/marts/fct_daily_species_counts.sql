/* Per region, day and species, from the historic (per-date) observations: the only
   true daily data (staging.stg_ebird_historic_observations). Recent observations are
   deliberately not used: /recent returns only the latest sighting of each species, so
   counting it per day would undercount every day but a species' last.

   count_source says where the counts come from: always 'historic' (the historic
   endpoint's list of that date). A day is present once its historic observations are
   loaded: the daily job loads the last EBIRD_DAILY_HISTORIC_DAYS complete days, older
   days come from backfills of raw_ebird/historic_observations.

   The historic endpoint lists each taxon once per region and date (its latest
   observation, rank mrec), so checklists and observations count the reports it
   returned (normally 1), individuals_counted is what those reports counted (0, not
   NULL, when every report was presence-only, "X"), and presence_only_reports how many
   reports only noted presence.

   Incremental by obs_date like its source: a day's counts depend on that day's
   observations only, so restating a range of the staging model restates exactly the
   same range here. */
MODEL (
  name marts.fct_daily_species_counts,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column obs_date,
    lookback 30
  ),
  grain (region_code, obs_date, species_code),
  audits (
    unique_combination_of_columns(columns := (region_code, obs_date, species_code))
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
  CAST(SUM(CASE WHEN is_presence_only THEN 1 ELSE 0 END) AS BIGINT) AS presence_only_reports,
  CAST('historic' AS TEXT) AS count_source
FROM staging.stg_ebird_historic_observations
WHERE obs_date BETWEEN @start_date AND @end_date
GROUP BY region_code, obs_date, species_code
