/* One row per detected box (current model version), linked to its post: the inner
   join on fct_messages drops boxes of service messages or of posts not loaded, and
   gives the box its message's date (the time column). */
MODEL (
  name telegram_marts.fct_image_detections,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column message_date,
    lookback 2
  ),
  grain (image_path, box_index),
  audits (
    unique_combination_of_columns(columns := (image_path, box_index)),
    detections_have_message()
  )
);

SELECT
  m.channel,
  m.message_id,
  m.date_key,
  m.message_date,
  b.image_path,
  b.box_index,
  b.class_name,
  b.confidence,
  b.model_version
FROM telegram_staging.stg_image_detections AS b
JOIN telegram_marts.fct_messages AS m
  ON m.channel = b.channel AND m.message_id = b.message_id
WHERE m.message_date BETWEEN @start_date AND @end_date
