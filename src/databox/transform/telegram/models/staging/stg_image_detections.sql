/* One row per detected box of each image's current model version
   (stg_image_enrichment): boxes of superseded versions are left out.
   box_area_share = box area / image area, NULL when the image size is unknown. */
MODEL (
  name telegram_staging.stg_image_detections,
  kind FULL,
  grain (image_path, box_index),
  audits (
    not_null(columns := (image_path, model_version, box_index, class_name, confidence)),
    unique_combination_of_columns(columns := (image_path, box_index)),
    accepted_range(column := confidence, min_v := 0, max_v := 1),
    accepted_range(column := box_area_share, min_v := 0)
  )
);

WITH boxes AS (
  SELECT * FROM @table_or_empty(raw.image_detections)  -- absent until the enrichment loads
)
SELECT
  CAST(d.channel AS TEXT) AS channel,
  CAST(d.message_id AS BIGINT) AS message_id,
  CAST(d.image_path AS TEXT) AS image_path,
  CAST(d.model_version AS TEXT) AS model_version,
  CAST(d.box_index AS INT) AS box_index,
  CAST(d.class_name AS TEXT) AS class_name,
  CAST(d.confidence AS DOUBLE) AS confidence,
  CAST(
    (d.x2 - d.x1) * (d.y2 - d.y1)
    / NULLIF(
      CAST(COALESCE(d.image_width, e.image_width) AS DOUBLE)
      * COALESCE(d.image_height, e.image_height),
      0
    ) AS DOUBLE
  ) AS box_area_share,
  CAST(d.loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM boxes AS d
JOIN telegram_staging.stg_image_enrichment AS e
  ON e.image_path = d.image_path AND e.model_version = d.model_version
