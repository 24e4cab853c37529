"""The eBird SQLMesh project's model graph, without importing SQLMesh.

Dagster needs every model's name, kind and upstreams when the code location loads;
asking ``sqlmesh.Context`` costs ~8 s (import + project load), so the graph is kept in
``ebird/dag.json``, regenerated with ``python -m databox.transform.dag`` after a model
changes. ``tests/test_transform_dag.py`` fails when the file and the project disagree.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DAG_FILE = Path(__file__).with_name("ebird") / "dag.json"


@dataclass(frozen=True)
class ModelGraph:
    #: model (``schema.name``) → upstream models and raw tables (``schema.name``)
    deps: dict[str, tuple[str, ...]]
    kinds: dict[str, str]

    def models(self, schema: str | None = None) -> list[str]:
        return sorted(m for m in self.deps if schema is None or m.split(".")[0] == schema)


def load_dag(path: Path = DAG_FILE) -> ModelGraph:
    data = json.loads(path.read_text())
    return ModelGraph(
        deps={m: tuple(v) for m, v in data["deps"].items()}, kinds=dict(data["kinds"])
    )


def dag_from_project() -> dict:
    from databox.transform.runner import SqlMeshRunner

    # Only the project is read; the warehouse is a throwaway file (DATABASE_URL refuses
    # :memory:, which no real setting should use).
    with tempfile.TemporaryDirectory(prefix="databox-dag-") as tmp:
        runner = SqlMeshRunner(f"duckdb:///{Path(tmp) / 'dag.duckdb'}")
        deps = {m: sorted(v) for m, v in sorted(runner.model_dependencies().items())}
        return {"deps": deps, "kinds": dict(sorted(runner.model_kinds().items()))}


if __name__ == "__main__":
    DAG_FILE.write_text(json.dumps(dag_from_project(), indent=2) + "\n")
    print(f"wrote {DAG_FILE}", file=sys.stderr)
