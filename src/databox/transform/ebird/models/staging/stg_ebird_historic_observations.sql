/* Historic observations: per region and date, what the historic endpoint returned for
   that date (historic/{y}/{m}/{d}, detail=full, rank mrec: one observation per taxon
   seen that day, its latest), typed, one row per (sub_id, species_code).

   The only true per-day data the API has. /recent returns the latest sighting of each
   species within `back` days, so an earlier day's list built from it misses every
   species that was seen again later: that is why marts.fct_daily_species_counts reads
   this model and not stg_ebird_observations.

   Loaded by the daily job (the last EBIRD_DAILY_HISTORIC_DAYS complete days) and by
   the partitioned backfill asset raw_ebird/historic_observations.

   Incremental by obs_date, lookback 30 like stg_ebird_observations: dlt replaces a
   (region, date) wholesale when it is reloaded, and the last 30 days are recomputed on
   every run; older backfilled dates need a restatement
   (SqlMeshRunner.plan_and_apply(start=..., end=...)). */
MODEL (
  name staging.stg_ebird_historic_observations,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column obs_date,
    lookback 30
  ),
  grain (sub_id, species_code),
  audits (
    not_null(columns := (sub_id, species_code, obs_date, region_code, loc_id)),
    unique_combination_of_columns(columns := (sub_id, species_code)),
    accepted_range(column := lat, min_v := -90, max_v := 90),
    accepted_range(column := lng, min_v := -180, max_v := 180),
    accepted_range(column := how_many, min_v := 0),
    not_in_future(column := obs_date)
  )
);

WITH ranked AS (
  SELECT
    *,
    /* One copy per observation; should a reload leave two, the one loaded last wins.
       dlt load ids are epoch seconds as text, so compare them as numbers. */
    ROW_NUMBER() OVER (
      PARTITION BY sub_id, species_code
      ORDER BY CAST(_dlt_load_id AS DOUBLE) DESC, _dlt_load_id DESC
    ) AS copy_rank
  FROM @table_or_empty(raw_ebird.historic_observations)  -- absent until a historic load
  WHERE obs_date BETWEEN @start_date AND @end_date
)
SELECT
  CAST(sub_id AS TEXT) AS sub_id,
  CAST(species_code AS TEXT) AS species_code,
  CAST(com_name AS TEXT) AS com_name,
  CAST(sci_name AS TEXT) AS sci_name,
  CAST(region_code AS TEXT) AS region_code,
  CAST(country_code AS TEXT) AS country_code,
  CAST(subnational1_code AS TEXT) AS subnational1_code,
  CAST(subnational2_code AS TEXT) AS subnational2_code,  -- NULL where none (e.g. Kenya)
  CAST(loc_id AS TEXT) AS loc_id,
  CAST(loc_name AS TEXT) AS loc_name,
  CAST(obs_date AS DATE) AS obs_date,
  CAST(obs_at AS TIMESTAMP) AS obs_at,  -- observer's local time; NULL when none given
  CAST(obs_dt AS TEXT) AS obs_dt,  -- verbatim from the API
  CAST(how_many AS BIGINT) AS how_many,  -- NULL: only presence noted ("X")
  how_many IS NULL AS is_presence_only,
  CAST(lat AS DOUBLE) AS lat,
  CAST(lng AS DOUBLE) AS lng,
  CAST(obs_valid AS BOOLEAN) AS obs_valid,
  CAST(obs_reviewed AS BOOLEAN) AS obs_reviewed,
  CAST(location_private AS BOOLEAN) AS location_private,
  CAST(exotic_category AS TEXT) AS exotic_category,
  CAST(_dlt_load_id AS TEXT) AS dlt_load_id
FROM ranked
WHERE copy_rank = 1
