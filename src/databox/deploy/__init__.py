"""The production topology on one host: its process list (``processes``), starting and
stopping it (``up``) and checking its services (``check``). Plain Python: no Dagster
import here; the processes it starts are Dagster's own commands."""
