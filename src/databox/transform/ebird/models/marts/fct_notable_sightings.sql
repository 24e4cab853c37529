/* Notable sightings with their taxonomy (family, order, category). LEFT JOIN: a
   sighting of a taxon missing from the loaded taxonomy is kept, with NULL names. */
MODEL (
  name marts.fct_notable_sightings,
  kind FULL,
  grain (sub_id, species_code),
  audits (
    unique_combination_of_columns(columns := (sub_id, species_code))
  )
);

SELECT
  n.sub_id,
  n.species_code,
  n.obs_id,
  n.obs_date,
  n.obs_at,
  n.region_code,
  n.country_code,
  n.subnational1_code,
  n.subnational2_code,
  n.loc_id,
  n.loc_name,
  n.location_private,
  n.lat,
  n.lng,
  n.how_many,
  n.is_presence_only,
  n.obs_valid,
  n.obs_reviewed,
  n.user_display_name,
  n.com_name,
  n.sci_name,
  t.category,
  t.order_name,
  t.family_code,
  t.family_com_name,
  t.family_sci_name,
  t.taxon_order
FROM staging.stg_ebird_notable_observations AS n
LEFT JOIN staging.stg_ebird_taxonomy AS t
  ON t.species_code = n.species_code
