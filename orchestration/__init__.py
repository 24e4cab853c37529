"""The Dagster layer: it only wires application code from ``databox`` into assets,
checks, jobs, schedules, sensors and resources."""
