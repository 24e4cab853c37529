/* Referential integrity of the facts. An audit may query the models its model
   depends on (SQLMesh maps them to the versions being built), hence the joins that
   make the dimensions and fct_messages upstream of the facts. */
AUDIT (
  name messages_have_dimensions
);

SELECT f.*
FROM @this_model AS f
WHERE NOT EXISTS (SELECT 1 FROM telegram_marts.dim_channels AS c WHERE c.channel = f.channel)
  OR NOT EXISTS (SELECT 1 FROM telegram_marts.dim_dates AS d WHERE d.date_key = f.date_key);

AUDIT (
  name detections_have_message
);

SELECT f.*
FROM @this_model AS f
WHERE NOT EXISTS (
  SELECT 1
  FROM telegram_marts.fct_messages AS m
  WHERE m.channel = f.channel AND m.message_id = f.message_id
)
