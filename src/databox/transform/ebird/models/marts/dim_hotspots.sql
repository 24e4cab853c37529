/* Hotspots as a dimension: one row per loc_id. */
MODEL (
  name marts.dim_hotspots,
  kind FULL,
  grain loc_id
);

SELECT
  loc_id,
  loc_name,
  country_code,
  subnational1_code,
  subnational2_code,
  lat,
  lng,
  latest_obs_date,
  num_species_all_time,
  latest_obs_date IS NULL AS is_never_birded
FROM staging.stg_ebird_hotspots
