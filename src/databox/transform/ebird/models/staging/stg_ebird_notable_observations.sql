/* Observations of notable (rare for the region) species, full detail, typed.
   FULL: the table is small (a window of days per region) and dlt merges it on its
   key, so it is already one row per (sub_id, species_code). */
MODEL (
  name staging.stg_ebird_notable_observations,
  kind FULL,
  grain (sub_id, species_code),
  audits (
    not_null(columns := (sub_id, species_code, obs_date, region_code)),
    unique_combination_of_columns(columns := (sub_id, species_code)),
    accepted_range(column := lat, min_v := -90, max_v := 90),
    accepted_range(column := lng, min_v := -180, max_v := 180),
    accepted_range(column := how_many, min_v := 0),
    not_in_future(column := obs_date)
  )
);

SELECT
  CAST(sub_id AS TEXT) AS sub_id,
  CAST(species_code AS TEXT) AS species_code,
  CAST(obs_id AS TEXT) AS obs_id,
  CAST(checklist_id AS TEXT) AS checklist_id,
  CAST(com_name AS TEXT) AS com_name,
  CAST(sci_name AS TEXT) AS sci_name,
  CAST(region_code AS TEXT) AS region_code,
  CAST(country_code AS TEXT) AS country_code,
  CAST(country_name AS TEXT) AS country_name,
  CAST(subnational1_code AS TEXT) AS subnational1_code,
  CAST(subnational1_name AS TEXT) AS subnational1_name,
  CAST(subnational2_code AS TEXT) AS subnational2_code,  -- NULL where none (e.g. Kenya)
  CAST(subnational2_name AS TEXT) AS subnational2_name,
  CAST(loc_id AS TEXT) AS loc_id,
  CAST(loc_name AS TEXT) AS loc_name,
  CAST(location_private AS BOOLEAN) AS location_private,
  CAST(obs_date AS DATE) AS obs_date,
  CAST(obs_at AS TIMESTAMP) AS obs_at,
  CAST(obs_dt AS TEXT) AS obs_dt,
  CAST(how_many AS BIGINT) AS how_many,
  how_many IS NULL AS is_presence_only,
  CAST(lat AS DOUBLE) AS lat,
  CAST(lng AS DOUBLE) AS lng,
  CAST(obs_valid AS BOOLEAN) AS obs_valid,
  CAST(obs_reviewed AS BOOLEAN) AS obs_reviewed,
  CAST(exotic_category AS TEXT) AS exotic_category,
  CAST(user_display_name AS TEXT) AS user_display_name,
  CAST(has_comments AS BOOLEAN) AS has_comments,
  CAST(has_rich_media AS BOOLEAN) AS has_rich_media,
  CAST(_dlt_load_id AS TEXT) AS dlt_load_id
FROM raw_ebird.notable_observations
