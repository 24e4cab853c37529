/* Per channel and image category: the enriched images of its posts (current model
   version; images without a category, i.e. failed ones, left out), the posts they
   belong to, and the category's share of the channel's categorised images. */
MODEL (
  name telegram_marts.mart_visual_content,
  kind FULL,
  grain (channel, image_category),
  audits (
    unique_combination_of_columns(columns := (channel, image_category))
  )
);

WITH images AS (
  SELECT e.channel, e.message_id, e.image_path, e.category
  FROM telegram_staging.stg_image_enrichment AS e
  JOIN telegram_staging.stg_telegram_messages AS m
    ON m.channel = e.channel AND m.message_id = e.message_id
  WHERE e.category IS NOT NULL
),
per_category AS (
  SELECT
    channel,
    category AS image_category,
    COUNT(DISTINCT image_path) AS images,
    COUNT(DISTINCT message_id) AS posts
  FROM images
  GROUP BY channel, category
)
SELECT
  channel,
  CAST(image_category AS TEXT) AS image_category,
  CAST(images AS BIGINT) AS images,
  CAST(posts AS BIGINT) AS posts,
  CAST(images AS DOUBLE) / SUM(images) OVER (PARTITION BY channel) AS share_of_channel_images
FROM per_category
