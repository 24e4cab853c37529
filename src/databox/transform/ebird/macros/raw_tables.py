"""The project's ``@table_or_empty`` (databox.transform.raw_macros, shared by both
projects; SQLMesh registers macros from each project's own macros/ directory)."""

from __future__ import annotations

from sqlglot import exp
from sqlmesh import macro
from sqlmesh.core.macros import MacroEvaluator

from databox.transform import raw_macros


@macro()
def table_or_empty(evaluator: MacroEvaluator, table: exp.Table) -> exp.Expression:
    """``table`` if it exists in the warehouse, else an empty relation with its columns."""
    return raw_macros.table_or_empty(evaluator, table, "ebird")
