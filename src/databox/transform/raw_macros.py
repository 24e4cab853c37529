"""``@table_or_empty``, the macro both SQLMesh projects read their raw tables through.

SQLMesh loads a project's macros from its own ``macros/`` directory only, so each
project's ``macros/raw_tables.py`` registers a two-line ``table_or_empty`` that calls
``table_or_empty`` here with the project's name. (Paths are resolved here, in an
imported module: SQLMesh runs a macro's own source in a namespace of its own.)
"""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp

# Stages at which the real table must be referenced whatever the warehouse holds:
# while loading, so SQLMesh records the dependency and infers the columns; while
# testing, because unit tests substitute their own fixture tables for it.
_ALWAYS_REAL = {"loading", "testing"}


def declared_columns(project: str, name: str) -> dict[str, exp.DataType]:
    """The columns ``external_models.yaml`` of ``project`` (ebird, telegram) declares."""
    import yaml

    external_models = Path(__file__).resolve().parent / project / "external_models.yaml"
    for model in yaml.safe_load(external_models.read_text()):
        if model["name"] == name:
            return {
                col: exp.DataType.build(t, dialect="duckdb") for col, t in model["columns"].items()
            }
    raise KeyError(f"{name} is not declared in {external_models}")


def table_or_empty(evaluator, table: exp.Table, project: str) -> exp.Expression:
    """``table`` if it exists in the warehouse, else an empty relation with its columns.

    A raw table appears only once its loader first wrote to it (eBird's
    ``historic_observations`` when a historic date is asked for; Telegram's
    ``image_enrichment``/``image_detections`` once detections are loaded). A model
    reading it would fail with "table does not exist" instead of seeing no rows. The
    empty stand-in has the declared columns (the project's external_models.yaml) and
    the table's name as alias, so ``<table>.col`` references keep working.
    """
    stage = getattr(evaluator.runtime_stage, "value", evaluator.runtime_stage)
    if stage in _ALWAYS_REAL or evaluator.engine_adapter.table_exists(table):
        return table
    try:
        columns = evaluator.columns_to_types(table)
    except Exception:
        # With select_models SQLMesh does not load external models outside the selection
        # into the evaluator; read the declared columns from external_models.yaml instead.
        columns = declared_columns(project, f"{table.db}.{table.name}")
    empty = exp.select(
        *(exp.cast(exp.null(), dtype).as_(name) for name, dtype in columns.items())
    ).where(exp.false())
    return empty.subquery(table.name)
