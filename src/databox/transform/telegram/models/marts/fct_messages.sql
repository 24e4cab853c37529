/* One row per post, with its date key and what the image enrichment saw in its images
   (current model version only, see stg_image_enrichment):

   * image_category: NULL when the post has no image or none is enriched yet; with
     several images the strongest category wins: promotional > product_display >
     lifestyle > other.
   * detected_object_count: boxes detected in all its images (0 when none).

   Inner joins on dim_channels and dim_dates: they make the dimensions upstream of this
   model (built first, and resolvable by the referential audits) and every row has
   both by construction. Incremental by message_date; image changes of an old day are
   restated by telegram_refresh (raw image rows joined to their message's date). */
MODEL (
  name telegram_marts.fct_messages,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column message_date,
    lookback 2
  ),
  grain (channel, message_id),
  audits (
    unique_combination_of_columns(columns := (channel, message_id)),
    messages_have_dimensions()
  )
);

WITH images AS (
  SELECT
    channel,
    message_id,
    /* Rank of the strongest category; 0 when no image has one. */
    MAX(
      CASE category
        WHEN 'promotional' THEN 4
        WHEN 'product_display' THEN 3
        WHEN 'lifestyle' THEN 2
        WHEN 'other' THEN 1
        ELSE 0
      END
    ) AS category_rank
  FROM telegram_staging.stg_image_enrichment
  GROUP BY channel, message_id
),
boxes AS (
  SELECT channel, message_id, COUNT(*) AS n_boxes
  FROM telegram_staging.stg_image_detections
  GROUP BY channel, message_id
)
SELECT
  m.channel,
  m.message_id,
  d.date_key,
  m.message_date,
  m.posted_at,
  m.views,
  m.forwards,
  m.replies,
  m.text_length,
  m.media_kind,
  m.has_image,
  m.image_count,
  CAST(
    CASE i.category_rank
      WHEN 4 THEN 'promotional'
      WHEN 3 THEN 'product_display'
      WHEN 2 THEN 'lifestyle'
      WHEN 1 THEN 'other'
    END AS TEXT
  ) AS image_category,
  CAST(COALESCE(b.n_boxes, 0) AS INT) AS detected_object_count
FROM telegram_staging.stg_telegram_messages AS m
JOIN telegram_marts.dim_channels AS c
  ON c.channel = m.channel
JOIN telegram_marts.dim_dates AS d
  ON d.date = m.message_date
LEFT JOIN images AS i
  ON i.channel = m.channel AND i.message_id = m.message_id
LEFT JOIN boxes AS b
  ON b.channel = m.channel AND b.message_id = m.message_id
WHERE m.message_date BETWEEN @start_date AND @end_date
