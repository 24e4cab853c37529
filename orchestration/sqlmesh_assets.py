"""What the eBird and Telegram SQLMesh assets share: a model's asset key, and the
materialisations a plan's summary gives (days computed, changed, row count)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from orchestration.ebird_metadata import ROW_COUNT


def model_key(model: str) -> dg.AssetKey:
    """``schema.name`` → the asset key ``[schema, name]``."""
    return dg.AssetKey(model.split("."))


def model_materializations(
    wh, models: list[str], summary, extra: dict | None = None
) -> Iterator[dg.MaterializeResult]:
    """One materialisation per model, in ``models``' order (a multi-asset must yield them
    after their upstreams): the days SQLMesh computed, whether the model changed, the
    plan's seconds, the table's rows (read after the runner closed its connection:
    DuckDB admits one writer), plus ``extra``."""
    from databox.ebird.tables import row_count

    for model in models:
        first_last = summary.evaluated.get(model)
        metadata = {
            "evaluated_days": f"{first_last[0]} → {first_last[1]}" if first_last else "none",
            **(extra or {}),
            "changed": model in summary.changed_models,
            "plan_seconds": round(summary.seconds, 2),
        }
        count = row_count(wh, model)
        if count is not None:
            metadata[ROW_COUNT] = dg.MetadataValue.int(count)
        yield dg.MaterializeResult(asset_key=model_key(model), metadata=metadata)
