/* One row per post (service messages excluded: they are channel events, not content),
   typed and cleaned. message_date is the post's UTC date, the time column of every
   incremental Telegram model.

   Incremental by message_date: a post has one date, and raw.telegram_messages is keyed
   on (channel, message_id), so a day's rows depend on that day's raw rows only.
   Changes to older days (late edits, view counts scraped again) are restated by
   databox.transform.telegram_refresh from raw loaded_at; lookback 2 covers a plain
   `run` around midnight. */
MODEL (
  name telegram_staging.stg_telegram_messages,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column message_date,
    lookback 2
  ),
  grain (channel, message_id),
  audits (
    not_null(columns := (channel, message_id, posted_at, message_date, text_length, media_kind, has_image, image_count, is_edited)),
    unique_combination_of_columns(columns := (channel, message_id)),
    accepted_range(column := views, min_v := 0),
    accepted_range(column := forwards, min_v := 0),
    accepted_range(column := replies, min_v := 0),
    accepted_range(column := image_count, min_v := 0)
  )
);

WITH posts AS (
  SELECT
    *,
    CAST(date AT TIME ZONE 'UTC' AS DATE) AS utc_date,
    /* Whitespace runs (ASCII, no-break and typographic spaces, line breaks) become one
       space: an explicit class, since \s differs between RE2 and PostgreSQL. */
    NULLIF(TRIM(REGEXP_REPLACE(text, '[ \t\n\r\f\v  -     　]+', ' ', 'g')), '') AS clean_text,
    /* image_paths is a JSON array; anything else (NULL, JSON null) means no image.
       Through text: the column is JSON on DuckDB and JSONB on PostgreSQL, where
       json_array_length takes JSON only. */
    CASE
      WHEN LTRIM(CAST(image_paths AS TEXT)) LIKE '[%'
        THEN JSON_ARRAY_LENGTH(CAST(CAST(image_paths AS TEXT) AS JSON))
      ELSE 0
    END AS n_images
  FROM raw.telegram_messages
  WHERE COALESCE(message_type, 'post') = 'post'
    AND CAST(date AT TIME ZONE 'UTC' AS DATE) BETWEEN @start_date AND @end_date
)
SELECT
  CAST(channel AS TEXT) AS channel,
  CAST(message_id AS BIGINT) AS message_id,
  CAST(date AS TIMESTAMPTZ) AS posted_at,
  CAST(utc_date AS DATE) AS message_date,
  CAST(clean_text AS TEXT) AS text,
  CAST(COALESCE(LENGTH(clean_text), 0) AS INT) AS text_length,  -- characters (code points)
  CAST(views AS BIGINT) AS views,
  CAST(forwards AS BIGINT) AS forwards,
  CAST(replies AS BIGINT) AS replies,
  CAST(COALESCE(NULLIF(media_kind, ''), 'none') AS TEXT) AS media_kind,
  n_images > 0 AS has_image,
  CAST(n_images AS INT) AS image_count,
  CAST(reply_to_message_id AS BIGINT) AS reply_to_message_id,
  edit_date IS NOT NULL AS is_edited,
  CAST(post_author AS TEXT) AS post_author,
  CAST(loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM posts
