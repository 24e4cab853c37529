/* Per channel and day (UTC): posts, views, forwards and the share of posts with an
   image. avg_views averages the posts whose views are known (NULL when none);
   divisions in DOUBLE so both engines give the same numbers. */
MODEL (
  name telegram_marts.mart_daily_channel_activity,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column message_date,
    lookback 2
  ),
  grain (channel, message_date),
  audits (
    unique_combination_of_columns(columns := (channel, message_date))
  )
);

SELECT
  channel,
  message_date,
  CAST(COUNT(*) AS BIGINT) AS posts,
  CAST(COALESCE(SUM(views), 0) AS BIGINT) AS views,
  CAST(SUM(views) AS DOUBLE) / NULLIF(COUNT(views), 0) AS avg_views,
  CAST(COALESCE(SUM(forwards), 0) AS BIGINT) AS forwards,
  CAST(SUM(CASE WHEN has_image THEN 1 ELSE 0 END) AS BIGINT) AS posts_with_images,
  CAST(SUM(CASE WHEN has_image THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS image_share
FROM telegram_marts.fct_messages
WHERE message_date BETWEEN @start_date AND @end_date
GROUP BY channel, message_date
