/* Public birding hotspots of the loaded regions, one row per loc_id, typed.
   FULL: a few rows per region, rebuilt whole. */
MODEL (
  name staging.stg_ebird_hotspots,
  kind FULL,
  grain loc_id,
  audits (
    not_null(columns := (loc_id, loc_name, country_code, lat, lng)),
    unique_values(columns := (loc_id)),
    accepted_range(column := lat, min_v := -90, max_v := 90),
    accepted_range(column := lng, min_v := -180, max_v := 180),
    accepted_range(column := num_species_all_time, min_v := 0)
  )
);

SELECT
  CAST(loc_id AS TEXT) AS loc_id,
  CAST(loc_name AS TEXT) AS loc_name,
  CAST(country_code AS TEXT) AS country_code,
  CAST(subnational1_code AS TEXT) AS subnational1_code,
  CAST(subnational2_code AS TEXT) AS subnational2_code,  -- NULL where none
  CAST(lat AS DOUBLE) AS lat,
  CAST(lng AS DOUBLE) AS lng,
  CAST(latest_obs_dt AS TEXT) AS latest_obs_dt,  -- verbatim; NULL: never birded
  CAST(latest_obs_at AS TIMESTAMP) AS latest_obs_at,  -- NULL too when no time was given
  /* From the text, not latest_obs_at: a date without a time still has a date. */
  CAST(SUBSTRING(latest_obs_dt, 1, 10) AS DATE) AS latest_obs_date,
  CAST(num_species_all_time AS BIGINT) AS num_species_all_time
FROM raw_ebird.hotspots
