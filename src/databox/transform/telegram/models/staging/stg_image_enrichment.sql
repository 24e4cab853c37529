/* One row per image: the verdict of its current model version, i.e. the version with
   the newest processed_at in raw.image_enrichment (ties: the greater version string).
   Older versions' rows stay in raw for comparison but never reach the marts.

   FULL: a few rows per post, and a new model version can touch any day. */
MODEL (
  name telegram_staging.stg_image_enrichment,
  kind FULL,
  grain image_path,
  audits (
    not_null(columns := (image_path, model_version, status, object_count)),
    unique_values(columns := (image_path)),
    accepted_values(column := status, is_in := ('ok', 'no_objects', 'error')),
    accepted_values(column := category, is_in := ('promotional', 'product_display', 'lifestyle', 'other')),
    accepted_range(column := object_count, min_v := 0)
  )
);

WITH ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY image_path
      ORDER BY processed_at DESC, model_version DESC
    ) AS version_rank
  FROM @table_or_empty(raw.image_enrichment)  -- absent until the enrichment first loads
)
SELECT
  CAST(channel AS TEXT) AS channel,
  CAST(message_id AS BIGINT) AS message_id,
  CAST(image_path AS TEXT) AS image_path,
  CAST(image_sha256 AS TEXT) AS image_sha256,
  CAST(model_version AS TEXT) AS model_version,
  CAST(status AS TEXT) AS status,
  CAST(category AS TEXT) AS category,
  CAST(object_count AS INT) AS object_count,
  CAST(image_width AS INT) AS image_width,
  CAST(image_height AS INT) AS image_height,
  CAST(processed_at AS TIMESTAMPTZ) AS processed_at,
  CAST(loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM ranked
WHERE version_rank = 1
