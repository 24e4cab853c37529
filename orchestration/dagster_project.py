"""The same definitions under the name the eBird documentation uses:
``dagster job execute -f orchestration/dagster_project.py -j daily_ebird_pipeline``."""

from orchestration.definitions import defs

__all__ = ["defs"]
