/* Rows whose @column (a DATE) lies in the future. eBird dates are the observer's local
   date while CURRENT_DATE is the warehouse session's, so a sighting just after local
   midnight east of the server can be "tomorrow": one day of slack by default. */
AUDIT (
  name not_in_future,
  defaults (
    tolerance_days = 1
  )
);

SELECT *
FROM @this_model
WHERE @column > CURRENT_DATE + @tolerance_days
