/* Per hotspot: what our loaded observations saw there (observations, checklists,
   distinct species, first/last observed date), next to eBird's own all-time figures.
   Every hotspot has a row (zeros when we hold no observation there); observations at
   private locations, which are not hotspots, are left out.

   count_source says where the counts come from: 'recent_latest_sightings+historic',
   i.e. staging.stg_ebird_observations, the recent observations (only the latest
   sighting of each species per region, not every sighting) plus the historic
   (per-date) observations loaded. They count the sightings we hold, not all activity
   at the hotspot; eBird's own figures are the ebird_* columns (ref/hotspot). */
MODEL (
  name marts.fct_hotspot_activity,
  kind FULL,
  grain loc_id,
  audits (
    unique_values(columns := (loc_id))
  )
);

WITH activity AS (
  SELECT
    loc_id,
    COUNT(*) AS observations,
    COUNT(DISTINCT sub_id) AS checklists,
    COUNT(DISTINCT species_code) AS distinct_species,
    MIN(obs_date) AS first_observed_date,
    MAX(obs_date) AS last_observed_date
  FROM staging.stg_ebird_observations
  GROUP BY loc_id
)
SELECT
  h.loc_id,
  h.loc_name,
  h.country_code,
  h.subnational1_code,
  h.subnational2_code,
  h.lat,
  h.lng,
  CAST(COALESCE(a.observations, 0) AS BIGINT) AS observations,
  CAST(COALESCE(a.checklists, 0) AS BIGINT) AS checklists,
  CAST(COALESCE(a.distinct_species, 0) AS BIGINT) AS distinct_species,
  a.first_observed_date,
  a.last_observed_date,
  h.latest_obs_date AS ebird_latest_obs_date,  -- eBird's all-time latest, any observer
  h.num_species_all_time AS ebird_num_species_all_time,
  CAST('recent_latest_sightings+historic' AS TEXT) AS count_source
FROM marts.dim_hotspots AS h
LEFT JOIN activity AS a
  ON a.loc_id = h.loc_id
