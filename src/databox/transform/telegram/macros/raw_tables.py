"""Macros for reading the raw tables (a copy of the eBird project's: SQLMesh loads a
project's macros from its own macros/ directory only)."""

from __future__ import annotations

from sqlglot import exp
from sqlmesh import macro
from sqlmesh.core.macros import MacroEvaluator

# Stages at which the real table must be referenced whatever the warehouse holds:
# while loading, so SQLMesh records the dependency and infers the columns; while
# testing, because unit tests substitute their own fixture tables for it.
_ALWAYS_REAL = {"loading", "testing"}


def _declared_columns(name: str) -> dict[str, exp.DataType]:
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[1] / "external_models.yaml"
    for model in yaml.safe_load(path.read_text()):
        if model["name"] == name:
            return {
                col: exp.DataType.build(t, dialect="duckdb") for col, t in model["columns"].items()
            }
    raise KeyError(f"{name} is not declared in {path}")


@macro()
def table_or_empty(evaluator: MacroEvaluator, table: exp.Table) -> exp.Expression:
    """``table`` if it exists in the warehouse, else an empty relation with its columns.

    ``raw.image_enrichment`` and ``raw.image_detections`` exist only once the image
    enrichment has loaded something, so on a warehouse with messages only a model
    reading them would fail with "table does not exist" instead of seeing no images.
    The empty stand-in has the declared columns (external_models.yaml) and the
    table's name as alias, so ``image_detections.col`` references keep working.
    """
    stage = getattr(evaluator.runtime_stage, "value", evaluator.runtime_stage)
    if stage in _ALWAYS_REAL or evaluator.engine_adapter.table_exists(table):
        return table
    try:
        columns = evaluator.columns_to_types(table)
    except Exception:
        # With select_models SQLMesh does not load external models outside the selection
        # into the evaluator; read the declared columns from external_models.yaml instead.
        columns = _declared_columns(f"{table.db}.{table.name}")
    empty = exp.select(
        *(exp.cast(exp.null(), dtype).as_(name) for name, dtype in columns.items())
    ).where(exp.false())
    return empty.subquery(table.name)
