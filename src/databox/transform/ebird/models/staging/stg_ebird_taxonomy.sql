/* The eBird taxonomy, one row per taxon (species, spuh, slash, hybrid, ...).
   VIEW: a pure rename/cast layer; dim_species materialises it. */
MODEL (
  name staging.stg_ebird_taxonomy,
  kind VIEW,
  grain species_code,
  audits (
    not_null(columns := (species_code, com_name, sci_name, category)),
    unique_values(columns := (species_code))
  )
);

SELECT
  CAST(species_code AS TEXT) AS species_code,
  CAST(com_name AS TEXT) AS com_name,
  CAST(sci_name AS TEXT) AS sci_name,
  CAST(category AS TEXT) AS category,
  CAST(taxon_order AS DOUBLE) AS taxon_order,
  CAST("order" AS TEXT) AS order_name,  -- "order" is reserved: renamed here once
  CAST(family_code AS TEXT) AS family_code,
  CAST(family_com_name AS TEXT) AS family_com_name,
  CAST(family_sci_name AS TEXT) AS family_sci_name,
  CAST(report_as AS TEXT) AS report_as,  -- the species a subspecies/form counts as
  COALESCE(CAST(extinct AS BOOLEAN), FALSE) AS is_extinct,
  CAST(extinct_year AS BIGINT) AS extinct_year,
  CAST(banding_codes AS TEXT) AS banding_codes_json  -- JSON list as text: portable
FROM raw_ebird.taxonomy
