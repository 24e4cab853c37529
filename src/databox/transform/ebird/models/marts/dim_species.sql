/* The taxonomy as a dimension: one row per eBird taxon code. */
MODEL (
  name marts.dim_species,
  kind FULL,
  grain species_code
);

SELECT
  species_code,
  com_name,
  sci_name,
  category,
  category = 'species' AS is_species,
  taxon_order,
  order_name,
  family_code,
  family_com_name,
  family_sci_name,
  report_as,
  is_extinct,
  extinct_year,
  banding_codes_json
FROM staging.stg_ebird_taxonomy
