/* One row per channel with posts. title: the newest new_title of the channel's
   service messages (a rename), else the channel's username. */
MODEL (
  name telegram_marts.dim_channels,
  kind FULL,
  grain channel,
  audits (
    unique_values(columns := (channel))
  )
);

WITH posts AS (
  SELECT
    channel,
    MIN(posted_at) AS first_post_at,
    MAX(posted_at) AS last_post_at,
    COUNT(*) AS post_count,
    COUNT(DISTINCT message_date) AS days_active
  FROM telegram_staging.stg_telegram_messages
  GROUP BY channel
),
titles AS (
  SELECT
    channel,
    new_title,
    ROW_NUMBER() OVER (PARTITION BY channel ORDER BY date DESC, message_id DESC) AS newest
  FROM raw.telegram_messages
  WHERE message_type = 'service' AND NULLIF(TRIM(new_title), '') IS NOT NULL
)
SELECT
  p.channel,
  CAST(COALESCE(t.new_title, p.channel) AS TEXT) AS title,
  p.first_post_at,
  p.last_post_at,
  CAST(p.post_count AS BIGINT) AS post_count,
  CAST(p.days_active AS BIGINT) AS days_active
FROM posts AS p
LEFT JOIN titles AS t
  ON t.channel = p.channel AND t.newest = 1
