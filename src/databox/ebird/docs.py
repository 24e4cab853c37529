"""What each eBird asset is, in words for the Dagster UI (its description).

The SQLMesh models document themselves in the ``/* … */`` comment each model file opens
with; the raw tables are described here, next to the dlt resources' behaviour they sum up
(databox.ebird.source). Plain file reads: cheap enough for every code-location load.
"""

from __future__ import annotations

import re
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "transform" / "ebird" / "models"

#: dlt resource (= raw_ebird table) → description.
RAW_DESCRIPTIONS = {
    "recent_observations": (
        "Recent observations per region (eBird /data/obs/{region}/recent, the last "
        "EBIRD_BACK_DAYS): the latest sighting of each species, merged on (subId, "
        "speciesCode) into raw_ebird.recent_observations."
    ),
    "notable_observations": (
        "Notable (rare for the region) observations with full detail (eBird "
        "/data/obs/{region}/recent/notable), merged on (subId, speciesCode) into "
        "raw_ebird.notable_observations."
    ),
    "taxonomy": (
        "The eBird taxonomy (/ref/taxonomy/ebird): one row per taxon, replaced whole on "
        "each load, in raw_ebird.taxonomy."
    ),
    "hotspots": (
        "Public birding hotspots of the loaded regions (/ref/hotspot/{region}), merged "
        "on locId into raw_ebird.hotspots."
    ),
    "historic_observations": (
        "Historic observations of one date per region (/data/obs/{region}/historic/"
        "{y}/{m}/{d}), daily partitions: a rerun of a date replaces that (region, date) "
        "in raw_ebird.historic_observations. Backfill older dates here; the daily job "
        "loads the last EBIRD_DAILY_HISTORIC_DAYS itself."
    ),
}

_LEADING_COMMENT = re.compile(r"\A\s*/\*(.*?)\*/", re.DOTALL)


def model_summary(model: str, models_dir: Path = MODELS_DIR) -> str | None:
    """The first paragraph of the comment ``schema.name``'s SQL file opens with, on one
    line; None when the file or the comment is missing."""
    schema, _, name = model.partition(".")
    try:
        text = (models_dir / schema / f"{name}.sql").read_text()
    except OSError:
        return None
    match = _LEADING_COMMENT.match(text)
    if not match:
        return None
    first = re.split(r"\n\s*\n", match.group(1).strip(), maxsplit=1)[0]
    return " ".join(first.split())
