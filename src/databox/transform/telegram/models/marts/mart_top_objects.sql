/* Per detected object class, over all posts: boxes, images, posts and channels with
   it, and the mean confidence (rounded to 6 decimals: the engines sum doubles in
   different orders, and the mart must read the same on both). */
MODEL (
  name telegram_marts.mart_top_objects,
  kind FULL,
  grain class_name,
  audits (
    unique_values(columns := (class_name))
  )
);

SELECT
  class_name,
  CAST(COUNT(*) AS BIGINT) AS detections,
  CAST(COUNT(DISTINCT image_path) AS BIGINT) AS images,
  CAST(COUNT(DISTINCT channel || '/' || CAST(message_id AS TEXT)) AS BIGINT) AS messages,
  CAST(COUNT(DISTINCT channel) AS BIGINT) AS channels,
  CAST(ROUND(CAST(AVG(confidence) AS DECIMAL(18, 9)), 6) AS DOUBLE) AS avg_confidence
FROM telegram_marts.fct_image_detections
GROUP BY class_name
