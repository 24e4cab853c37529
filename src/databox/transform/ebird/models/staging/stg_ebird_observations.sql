/* One row per observation (one species on one checklist) from the recent and the
   historic endpoints, deduplicated on (sub_id, species_code), typed; source_table says
   which endpoint the kept copy came from. Recent rows are the *latest sighting per
   species* in each region (that is all /recent returns), not a day's list: per-day
   figures come from stg_ebird_historic_observations. This model feeds
   marts.fct_hotspot_activity (the sightings we hold per hotspot).

   Incremental by obs_date: a checklist has one date, so every copy of an observation
   (sub_id, species_code) falls in the same daily interval and the dedupe below is
   complete inside any date range. SQLMesh deletes and re-inserts the processed dates,
   so reprocessing a range is idempotent.

   lookback 30: every run recomputes the last 30 days too, the widest window a recent
   load can touch (EBIRD_BACK_DAYS is at most 30), so re-sent or re-reviewed sightings
   are picked up. Rows that change further back (a historic backfill of an older date)
   need that range restated: SqlMeshRunner.plan_and_apply(start=..., end=...).
   Today's unfinished day is computed too (allow_partials, set for all models in
   config.py) and recomputed by the next run. */
MODEL (
  name staging.stg_ebird_observations,
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

WITH unioned AS (
  SELECT
    sub_id, species_code, com_name, sci_name, loc_id, loc_name, region_code,
    obs_dt, obs_date, obs_at, how_many, lat, lng,
    obs_valid, obs_reviewed, location_private, exotic_category,
    'recent' AS source_table,
    _dlt_load_id
  FROM raw_ebird.recent_observations
  WHERE obs_date BETWEEN @start_date AND @end_date
  UNION ALL
  SELECT
    sub_id, species_code, com_name, sci_name, loc_id, loc_name, region_code,
    obs_dt, obs_date, obs_at, how_many, lat, lng,
    obs_valid, obs_reviewed, location_private, exotic_category,
    'historic' AS source_table,
    _dlt_load_id
  FROM @table_or_empty(raw_ebird.historic_observations)  -- absent until a historic load
  WHERE obs_date BETWEEN @start_date AND @end_date
),
ranked AS (
  SELECT
    *,
    /* The copy loaded last wins: it carries the latest review state and count.
       dlt load ids are epoch seconds as text, so compare them as numbers. */
    ROW_NUMBER() OVER (
      PARTITION BY sub_id, species_code
      ORDER BY CAST(_dlt_load_id AS DOUBLE) DESC, source_table, _dlt_load_id
    ) AS copy_rank
  FROM unioned
)
SELECT
  CAST(sub_id AS TEXT) AS sub_id,
  CAST(species_code AS TEXT) AS species_code,
  CAST(com_name AS TEXT) AS com_name,
  CAST(sci_name AS TEXT) AS sci_name,
  CAST(region_code AS TEXT) AS region_code,
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
  CAST(source_table AS TEXT) AS source_table,
  CAST(_dlt_load_id AS TEXT) AS dlt_load_id
FROM ranked
WHERE copy_rank = 1
