/* A calendar: every day from the first to the last message date (UTC), days without
   posts included, so reports can show empty days. date_key = yyyymmdd. ISO weeks:
   weeks start on Monday, day_of_week 1 = Monday. */
MODEL (
  name telegram_marts.dim_dates,
  kind FULL,
  grain date_key,
  audits (
    unique_values(columns := (date_key))
  )
);

WITH bounds AS (
  SELECT MIN(message_date) AS first_day, MAX(message_date) AS last_day
  FROM telegram_staging.stg_telegram_messages
),
days AS (
  SELECT CAST(gs AS DATE) AS d
  FROM bounds, GENERATE_SERIES(
    CAST(bounds.first_day AS TIMESTAMP),
    CAST(bounds.last_day AS TIMESTAMP),
    INTERVAL 1 DAY
  ) AS s(gs)
)
SELECT
  CAST(EXTRACT(year FROM d) * 10000 + EXTRACT(month FROM d) * 100 + EXTRACT(day FROM d) AS INT) AS date_key,
  d AS date,
  CAST(EXTRACT(year FROM d) AS INT) AS year,
  CAST(EXTRACT(month FROM d) AS INT) AS month,
  CAST(EXTRACT(day FROM d) AS INT) AS day,
  CAST(EXTRACT(week FROM d) AS INT) AS iso_week,
  CAST(d - (CAST(EXTRACT(isodow FROM d) AS INT) - 1) AS DATE) AS week_start,
  CAST(EXTRACT(isodow FROM d) AS INT) AS day_of_week,
  EXTRACT(isodow FROM d) >= 6 AS is_weekend
FROM days
